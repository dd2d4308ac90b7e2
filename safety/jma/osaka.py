"""大阪市's JMA codes: its 24 wards as the earthquake reports list them (市町村等: the ward's
five-digit local government code and "00"; names as JMA writes them, 大阪北区 …), the
earthquake area they lie in (細分区域 520 大阪府北部) and the tsunami forecast area (津波予報区
510 大阪府). The admin's "fill in 大阪市" action maps them to the city's ward units by name."""

from __future__ import annotations

# (JMA city code, the ward's name in the org tree)
WARDS = [
    ("2710200", "都島区"),
    ("2710300", "福島区"),
    ("2710400", "此花区"),
    ("2710600", "西区"),
    ("2710700", "港区"),
    ("2710800", "大正区"),
    ("2710900", "天王寺区"),
    ("2711100", "浪速区"),
    ("2711300", "西淀川区"),
    ("2711400", "東淀川区"),
    ("2711500", "東成区"),
    ("2711600", "生野区"),
    ("2711700", "旭区"),
    ("2711800", "城東区"),
    ("2711900", "阿倍野区"),
    ("2712000", "住吉区"),
    ("2712100", "東住吉区"),
    ("2712200", "西成区"),
    ("2712300", "淀川区"),
    ("2712400", "鶴見区"),
    ("2712500", "住之江区"),
    ("2712600", "平野区"),
    ("2712700", "北区"),
    ("2712800", "中央区"),
]
EARTHQUAKE_AREA = ("520", "大阪府北部")  # a 震度速報 names this area only: the whole city
TSUNAMI_AREA = ("510", "大阪府")


def jma_city_name(ward: str) -> str:
    """How JMA names a ward of 大阪市 in intensity reports: 北区 → 大阪北区."""
    return f"大阪{ward}"
