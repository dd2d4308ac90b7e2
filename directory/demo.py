"""The demo city: an Osaka-like city with 24 wards, ~50 bureaus and offices, staff and posts.

``manage.py seed_demo`` (and ``make run``) call :func:`demo_city_seed`. Everything is
deterministic for a given seed and staff count: unit codes, employee numbers, names, posts.

Sign-in accounts are issued only to the headquarters key people (every post holder and both
deputies of every post) and to five fixed demo sign-ins, all with :data:`DEMO_PASSWORD`:

=========  ====================  =========================================
 login      role                  who
=========  ====================  =========================================
 000001     hq_member             市長 — holds 本部長
 000101     hq_member             北区長 — holds 北区長 (the first ward)
 000901     admin                 ICT戦略室 係長 (Django admin too)
 000902     coordinator           危機管理室 主任 (drill coordinator)
 000903     staff                 北区 総務課 主事 (an ordinary member of staff)
=========  ====================  =========================================

Every account can also sign in with its work e-mail, ``s<employee number>@city.example.jp``.

The demo also gets its command groups (:func:`demo_groups_seed`): 大阪市災害対策本部 (~200
recipients: the 本部長, 副本部長 and 危機管理監 posts as commanders, every bureau/office and ward
head post, the crisis office staff as members and the secretariat (秘書課) staff as observers),
one ward headquarters per ward, and a 危機管理室 office group, with two sample messages. The
staff these groups need (crisis office, secretariat, ward section chiefs, :func:`_group_people`)
get accounts too, as far as ``--staff`` leaves room for them.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q

from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import (
    Attachment,
    CommandGroup,
    GroupMembership,
    Message,
)

from . import services
from .models import OrgUnit, Post, PostDeputy, Staff, User

DEMO_PASSWORD = "honbu-demo-2026"  # noqa: S105 - published demo password, demo data only
DEMO_SEED = 2018
DEFAULT_STAFF = 3000
DEMO_ROOT_CODE = "OSK"
EMAIL_DOMAIN = "city.example.jp"
BATCH = 1000
SEED_REASON = "demo city (seed_demo)"

MAYOR, WARD_HEAD, ADMIN, COORDINATOR, STAFF = "000001", "000101", "000901", "000902", "000903"
SIGNIN_LABELS = [
    (MAYOR, "本部長 (mayor)"),
    (WARD_HEAD, "北区長 (ward head)"),
    (ADMIN, "管理者 (administrator)"),
    (COORDINATOR, "訓練担当 (drill coordinator)"),
    (STAFF, "職員 (staff)"),
]


class DemoSeedError(Exception):
    pass


# --- the organisation -----------------------------------------------------------------------
WARDS = """
北区:きたく 都島区:みやこじまく 福島区:ふくしまく 此花区:このはなく 中央区:ちゅうおうく
西区:にしく 港区:みなとく 大正区:たいしょうく 天王寺区:てんのうじく 浪速区:なにわく
西淀川区:にしよどがわく 淀川区:よどがわく 東淀川区:ひがしよどがわく 東成区:ひがしなりく
生野区:いくのく 旭区:あさひく 城東区:じょうとうく 鶴見区:つるみく 阿倍野区:あべのく
住之江区:すみのえく 住吉区:すみよしく 東住吉区:ひがしすみよしく 平野区:ひらのく 西成区:にしなりく
"""
WARD_SECTIONS = "総務課 市民協働課 窓口サービス課 保健福祉課"

# name, reading, kind, children: "部:課,課" is a department with sections; a bare "課" hangs
# directly under the bureau or office.
_B, _O = OrgUnit.Kind.BUREAU, OrgUnit.Kind.OFFICE
BUREAUS: list[tuple[str, str, str, str]] = [
    ("危機管理室", "ききかんりしつ", _O, "危機管理課 防災計画課 地域防災課"),
    ("政策企画室", "せいさくきかくしつ", _O, "企画部:政策企画課,連絡調整課 調整部:都市間連携課"),
    ("秘書課", "ひしょか", _O, "秘書係 渉外係"),
    ("ICT戦略室", "あいしーてぃーせんりゃくしつ", _O, "企画課 基盤整備課 情報セキュリティ課"),
    ("人事室", "じんじしつ", _O, "人事課 給与課 研修課"),
    ("会計室", "かいけいしつ", _O, "会計企画課 審査課 出納課"),
    ("市政改革室", "しせいかいかくしつ", _O, "改革推進課 行政評価課"),
    ("デジタル統括室", "でじたるとうかつしつ", _O, "企画課 デジタル推進課"),
    ("広報室", "こうほうしつ", _O, "広報課 報道課"),
    ("国際交流室", "こくさいこうりゅうしつ", _O, "国際課 交流課"),
    ("人権推進室", "じんけんすいしんしつ", _O, "人権企画課 啓発課"),
    ("市民活動推進室", "しみんかつどうすいしんしつ", _O, "活動支援課 協働推進課"),
    ("防災施設管理室", "ぼうさいしせつかんりしつ", _O, "施設課 管理課"),
    ("法務室", "ほうむしつ", _O, "法務課 訟務課"),
    ("統計室", "とうけいしつ", _O, "統計調査課 統計分析課"),
    ("情報公開室", "じょうほうこうかいしつ", _O, "情報公開課 公文書管理課"),
    ("総務局", "そうむきょく", _B, "総務部:総務課,庶務課 行政部:行政課,文書課 監察部:監察課"),
    (
        "市民局",
        "しみんきょく",
        _B,
        "総務課 区政支援部:区政課,地域活動課 市民生活部:市民情報課,消費生活課",
    ),
    ("財政局", "ざいせいきょく", _B, "財務部:財務課,資金課 経営管理部:経営企画課"),
    ("税務局", "ぜいむきょく", _B, "課税部:課税課,固定資産税課 収税部:収税課"),
    ("契約管財局", "けいやくかんざいきょく", _B, "契約部:契約課,工事契約課 管財部:管財課,用地課"),
    ("都市交通局", "としこうつうきょく", _B, "総務課 交通政策部:交通計画課,鉄道課"),
    (
        "福祉局",
        "ふくしきょく",
        _B,
        "総務部:総務課,経理課 生活福祉部:保護課,地域福祉課 "
        "高齢者施策部:高齢福祉課,介護保険課 障がい者施策部:障がい福祉課",
    ),
    (
        "健康局",
        "けんこうきょく",
        _B,
        "総務部:総務課 健康推進部:健康施策課,保健所管理課 生活衛生部:環境衛生課,食品衛生課",
    ),
    (
        "こども青少年局",
        "こどもせいしょうねんきょく",
        _B,
        "企画部:企画課 子育て支援部:こども家庭課,保育企画課 青少年部:青少年課",
    ),
    (
        "経済戦略局",
        "けいざいせんりゃくきょく",
        _B,
        "総務部:総務課 産業振興部:産業振興課,商業課 企業支援部:企業支援課",
    ),
    ("文化観光局", "ぶんかかんこうきょく", _B, "文化部:文化課,文化財保護課 観光部:観光課"),
    ("スポーツ振興局", "すぽーつしんこうきょく", _B, "スポーツ課 施設課"),
    (
        "環境局",
        "かんきょうきょく",
        _B,
        "総務部:総務課 環境施策部:環境施策課,環境管理課 事業部:一般廃棄物指導課,施設管理課",
    ),
    (
        "都市整備局",
        "としせいびきょく",
        _B,
        "総務部:総務課 公共建築部:設計課,設備課 市街地整備部:区画整理課,再開発課",
    ),
    (
        "都市計画局",
        "としけいかくきょく",
        _B,
        "計画部:都市計画課,交通計画課 開発調整部:開発誘導課,建築指導課",
    ),
    ("住宅局", "じゅうたくきょく", _B, "住宅政策課 市営住宅課"),
    (
        "建設局",
        "けんせつきょく",
        _B,
        "総務部:総務課,職員課 道路河川部:道路課,河川課,橋梁課 公園緑化部:公園課,緑化課",
    ),
    ("下水道局", "げすいどうきょく", _B, "管理部:管理課 施設部:施設管理課,水環境課"),
    ("港湾局", "こうわんきょく", _B, "総務部:総務課 計画整備部:計画課,海務課 営業推進部:振興課"),
    (
        "水道局",
        "すいどうきょく",
        _B,
        "総務部:総務課,職員課 工務部:配水課,浄水課 お客さまサービス部:料金課,給水課",
    ),
    (
        "消防局",
        "しょうぼうきょく",
        _B,
        "総務部:総務課,人事課 警防部:警防課,救急課,司令課 予防部:予防課,規制課",
    ),
    ("病院事業局", "びょういんじぎょうきょく", _B, "経営企画課 病院管理課"),
    ("万博推進局", "ばんぱくすいしんきょく", _B, "企画課 推進課"),
    ("IR推進局", "あいあーるすいしんきょく", _B, "企画課 推進課"),
    (
        "教育委員会事務局",
        "きょういくいいんかいじむきょく",
        _B,
        "総務部:総務課,教職員人事課 学校力支援部:学事課,学校施設課 生涯学習部:生涯学習課",
    ),
    (
        "行政委員会事務局",
        "ぎょうせいいいんかいじむきょく",
        _B,
        "総務部:総務課 任用調査部:任用課,調査課",
    ),
    ("選挙管理委員会事務局", "せんきょかんりいいんかいじむきょく", _B, "選挙課 管理課"),
    ("人事委員会事務局", "じんじいいんかいじむきょく", _B, "任用課 給与調査課"),
    ("監査委員事務局", "かんさいいんじむきょく", _B, "監査課 審査課"),
    ("市会事務局", "しかいじむきょく", _B, "総務課 議事課 政策調査課"),
    ("会計管理室", "かいけいかんりしつ", _O, "管理課 決算課"),
    ("中央卸売市場", "ちゅうおうおろしうりしじょう", _O, "管理課 業務課 施設課"),
    ("消費者センター", "しょうひしゃせんたー", _O, "相談課 啓発課"),
    ("東京事務所", "とうきょうじむしょ", _O, "調整課"),
]

# Readings of department and section names, composed from these pieces (longest match first).
PIECES = dict(
    p.split(":")
    for p in """
部:ぶ 課:か 係:かかり 総務:そうむ 庶務:しょむ 行政:ぎょうせい 文書:ぶんしょ 監察:かんさつ
監査:かんさ 危機:きき 管理:かんり 防災:ぼうさい 計画:けいかく 地域:ちいき 企画:きかく
政策:せいさく 連絡:れんらく 調整:ちょうせい 都市:とし 間:かん 連携:れんけい 秘書:ひしょ
渉外:しょうがい 基盤:きばん 整備:せいび 情報:じょうほう セキュリティ:せきゅりてぃ 人事:じんじ
給与:きゅうよ 研修:けんしゅう 会計:かいけい 審査:しんさ 出納:すいとう 改革:かいかく 推進:すいしん
評価:ひょうか デジタル:でじたる 広報:こうほう 報道:ほうどう 国際:こくさい 交流:こうりゅう
人権:じんけん 啓発:けいはつ 活動:かつどう 支援:しえん 協働:きょうどう 施設:しせつ 法務:ほうむ
訟務:しょうむ 統計:とうけい 調査:ちょうさ 分析:ぶんせき 公開:こうかい 公文書:こうぶんしょ
区政:くせい 市民:しみん 生活:せいかつ 消費:しょうひ 財務:ざいむ 資金:しきん 経営:けいえい
課税:かぜい 固定資産税:こていしさんぜい 収税:しゅうぜい 契約:けいやく 工事:こうじ 管財:かんざい
用地:ようち 交通:こうつう 鉄道:てつどう 経理:けいり 福祉:ふくし 保護:ほご 高齢者:こうれいしゃ
高齢:こうれい 施策:しさく 介護:かいご 保険:ほけん 障がい者:しょうがいしゃ 障がい:しょうがい
健康:けんこう 保健所:ほけんじょ 保健:ほけん 衛生:えいせい 環境:かんきょう 食品:しょくひん
子育て:こそだて こども:こども 家庭:かてい 保育:ほいく 青少年:せいしょうねん 産業:さんぎょう
振興:しんこう 商業:しょうぎょう 企業:きぎょう 文化財:ぶんかざい 文化:ぶんか 観光:かんこう
スポーツ:すぽーつ 事業:じぎょう 一般廃棄物:いっぱんはいきぶつ 指導:しどう 公共:こうきょう
建築:けんちく 設計:せっけい 設備:せつび 市街地:しがいち 区画整理:くかくせいり 再開発:さいかいはつ
開発:かいはつ 誘導:ゆうどう 住宅:じゅうたく 市営:しえい 職員:しょくいん 道路:どうろ 河川:かせん
橋梁:きょうりょう 公園:こうえん 緑化:りょっか 水:みず 営業:えいぎょう 海務:かいむ 工務:こうむ
配水:はいすい 浄水:じょうすい お客さま:おきゃくさま サービス:さーびす 料金:りょうきん
給水:きゅうすい 警防:けいぼう 救急:きゅうきゅう 司令:しれい 予防:よぼう 規制:きせい
病院:びょういん 教職員:きょうしょくいん 学校:がっこう 力:りょく 学事:がくじ
生涯学習:しょうがいがくしゅう 任用:にんよう 選挙:せんきょ 議事:ぎじ 決算:けっさん 業務:ぎょうむ
相談:そうだん 窓口:まどぐち
""".split()
)


def unit_reading(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        for j in range(len(name), i, -1):
            if name[i:j] in PIECES:
                out.append(PIECES[name[i:j]])
                i = j
                break
        else:
            raise DemoSeedError(f"no reading for {name!r} at {name[i:]!r}")
    return "".join(out)


# --- people ---------------------------------------------------------------------------------
FAMILY_NAMES = [
    p.split(":")
    for p in """
佐藤:さとう 鈴木:すずき 高橋:たかはし 田中:たなか 伊藤:いとう 渡辺:わたなべ 山本:やまもと
中村:なかむら 小林:こばやし 加藤:かとう 吉田:よしだ 山田:やまだ 佐々木:ささき 山口:やまぐち
松本:まつもと 井上:いのうえ 木村:きむら 林:はやし 斎藤:さいとう 清水:しみず 山崎:やまざき 森:もり
池田:いけだ 橋本:はしもと 阿部:あべ 石川:いしかわ 山下:やました 中島:なかじま 石井:いしい
小川:おがわ 前田:まえだ 岡田:おかだ 長谷川:はせがわ 藤田:ふじた 後藤:ごとう 近藤:こんどう
村上:むらかみ 遠藤:えんどう 青木:あおき 坂本:さかもと 斉藤:さいとう 福田:ふくだ 太田:おおた
西村:にしむら 藤井:ふじい 金子:かねこ 岡本:おかもと 藤原:ふじわら 中野:なかの 三浦:みうら
原田:はらだ 中川:なかがわ 松田:まつだ 竹内:たけうち 小野:おの 田村:たむら 中山:なかやま 和田:わだ
石田:いしだ 森田:もりた 上田:うえだ 原:はら 内田:うちだ 柴田:しばた 酒井:さかい 宮崎:みやざき
横山:よこやま 高木:たかぎ 安藤:あんどう 宮本:みやもと 大野:おおの 小島:こじま 工藤:くどう
谷口:たにぐち 今井:いまい 高田:たかだ 丸山:まるやま 増田:ますだ 杉山:すぎやま 村田:むらた
大塚:おおつか 小山:こやま 平野:ひらの 藤本:ふじもと 久保:くぼ 松井:まつい 千葉:ちば 岩崎:いわさき
桜井:さくらい 木下:きのした 野口:のぐち 松尾:まつお 菊地:きくち 野村:のむら 新井:あらい
渡部:わたなべ 谷:たに 辻:つじ 北村:きたむら 西田:にしだ
""".split()
]
GIVEN_NAMES = [
    p.split(":")
    for p in """
翔太:しょうた 大輔:だいすけ 健太:けんた 拓也:たくや 直樹:なおき 和也:かずや 達也:たつや 誠:まこと
剛:つよし 浩二:こうじ 健一:けんいち 隆:たかし 修:おさむ 聡:さとし 亮:りょう 大樹:だいき
陽介:ようすけ 悠斗:ゆうと 蓮:れん 大翔:ひろと 颯太:そうた 陸:りく 湊:みなと 悠真:ゆうま 樹:いつき
優太:ゆうた 一郎:いちろう 秀樹:ひでき 正樹:まさき 雅之:まさゆき 博之:ひろゆき 俊介:しゅんすけ
和彦:かずひこ 智也:ともや 康平:こうへい 勇気:ゆうき 雄一:ゆういち 光:ひかる 学:まなぶ 稔:みのる
昭:あきら 進:すすむ 豊:ゆたか 哲也:てつや 恭平:きょうへい 慎一:しんいち 龍之介:りゅうのすけ
海斗:かいと 純一:じゅんいち 克也:かつや 美咲:みさき 陽菜:ひな 結衣:ゆい さくら:さくら 葵:あおい
愛:あい 彩:あや 真由美:まゆみ 恵:めぐみ 裕子:ゆうこ 直美:なおみ 由美子:ゆみこ 久美子:くみこ
智子:ともこ 典子:のりこ 幸子:さちこ 明美:あけみ 美穂:みほ 麻衣:まい 奈々:なな 千尋:ちひろ
香織:かおり 理恵:りえ 舞:まい 沙織:さおり 彩花:あやか 優花:ゆうか 七海:ななみ 遥:はるか
美月:みづき 花子:はなこ 結菜:ゆいな 杏:あん 莉子:りこ 芽依:めい 凛:りん 紗希:さき 美香:みか
友美:ともみ 亜希子:あきこ 詩織:しおり 瞳:ひとみ 綾乃:あやの 加奈子:かなこ 朋子:ともこ 雅子:まさこ
純子:じゅんこ 和子:かずこ 陽子:ようこ 恵美:えみ
""".split()
]
# Job titles of ordinary staff, with how many in a hundred hold them.
JOB_TITLES = [("主事", 42), ("主任", 20), ("技師", 10), ("係長", 15), ("課長代理", 8), ("課長", 5)]


@dataclass
class _Person:
    employee_number: str
    unit_code: str
    job_title: str
    role: str | None = None  # None: no sign-in account


@dataclass
class _Post:
    code: str
    name: str
    kana: str
    unit_code: str
    holder: str
    deputies: tuple[str, str]


@dataclass
class DemoGroupLine:
    name: str
    kind: str
    recipients: int
    messages: int


@dataclass
class DemoSummary:
    already_loaded: bool
    units: int = 0
    staff: int = 0
    accounts: int = 0
    posts: int = 0
    deputies: int = 0
    groups: int = 0
    memberships: int = 0
    messages: int = 0
    seconds: float = 0.0
    group_lines: list[DemoGroupLine] = field(default_factory=list)


def _units() -> list[tuple[str, str, str, str, str | None]]:
    """(code, name, reading, kind, parent code) parents first; codes are stable by position."""
    units = [(DEMO_ROOT_CODE, "大阪市", "おおさかし", OrgUnit.Kind.CITY, None)]
    for i, (name, kana, kind, children) in enumerate(BUREAUS, start=1):
        code = f"{DEMO_ROOT_CODE}-B{i:02d}"
        units.append((code, name, kana, kind, DEMO_ROOT_CODE))
        for j, child in enumerate(children.split(), start=1):
            dept, _sep, sections = child.partition(":")
            units.append(
                (
                    f"{code}-{j}",
                    dept,
                    unit_reading(dept),
                    OrgUnit.Kind.DEPARTMENT if sections else OrgUnit.Kind.SECTION,
                    code,
                )
            )
            for k, section in enumerate(filter(None, sections.split(",")), start=1):
                units.append(
                    (
                        f"{code}-{j}-{k}",
                        section,
                        unit_reading(section),
                        OrgUnit.Kind.SECTION,
                        f"{code}-{j}",
                    )
                )
    for i, ward in enumerate(WARDS.split(), start=1):
        name, kana = ward.split(":")
        code = f"{DEMO_ROOT_CODE}-W{i:02d}"
        units.append((code, name, kana, OrgUnit.Kind.WARD, DEMO_ROOT_CODE))
        for j, section in enumerate(WARD_SECTIONS.split(), start=1):
            units.append(
                (f"{code}-{j}", section, unit_reading(section), OrgUnit.Kind.SECTION, code)
            )
    return units


def _head_title(unit_name: str) -> str:
    """局長, 室長, 課長, 所長 (センター, 事務所), 場長 (市場)."""
    for suffix, title in (("センター", "所長"), ("事務所", "所長"), ("市場", "場長")):
        if unit_name.endswith(suffix):
            return title
    return unit_name[-1] + "長"


def _key_people_and_posts() -> tuple[list[_Person], list[_Post]]:
    """The headquarters: who holds which post and who stands in, with fixed employee numbers."""
    hq, root = User.Role.HQ_MEMBER, DEMO_ROOT_CODE
    people = [_Person(MAYOR, root, "市長", hq)]
    people += [_Person(f"00000{n}", root, "副市長", hq) for n in (2, 3, 4)]
    crisis = f"{root}-B01"  # 危機管理室
    people += [
        _Person("000005", crisis, "危機管理監", hq),
        _Person("000006", crisis, "危機管理副監", hq),
        _Person("000007", f"{crisis}-1", "危機管理課長", hq),
    ]
    posts = [_Post(f"{root}-HONBUCHO", "本部長", "ほんぶちょう", root, MAYOR, ("000002", "000003"))]
    for n, deputies in (
        (2, ("000003", "000004")),
        (3, ("000004", "000002")),
        (4, ("000002", "000003")),
    ):
        posts.append(
            _Post(
                f"{root}-FUKU{n - 1}", "副本部長", "ふくほんぶちょう", root, f"00000{n}", deputies
            )
        )
    posts.append(
        _Post(
            f"{root}-KIKIKANRIKAN",
            "危機管理監",
            "ききかんりかん",
            crisis,
            "000005",
            ("000006", "000007"),
        )
    )
    for i, ward in enumerate(WARDS.split(), start=1):
        name, kana = ward.split(":")
        code = f"{root}-W{i:02d}"
        head, d1, d2 = f"{100 + i:06d}", f"{198 + 2 * i:06d}", f"{199 + 2 * i:06d}"
        people += [
            _Person(head, code, "区長", hq),
            _Person(d1, code, "副区長", hq),
            _Person(d2, f"{code}-1", "総務課長", hq),
        ]
        posts.append(_Post(f"{root}-W{i:02d}", f"{name}長", f"{kana}ちょう", code, head, (d1, d2)))
    for i, (name, kana, _kind, children) in enumerate(BUREAUS, start=1):
        code = f"{root}-B{i:02d}"
        first = children.split()[0].partition(":")[0]
        head, d1, d2 = f"{300 + i:06d}", f"{398 + 2 * i:06d}", f"{399 + 2 * i:06d}"
        centre = name.endswith("センター")
        people += [
            _Person(head, code, _head_title(name), hq),
            _Person(d1, code, "次長", hq),
            _Person(d2, f"{code}-1", f"{first}長", hq),
        ]
        posts.append(
            _Post(
                code,
                name + ("所長" if centre else "長"),
                kana + ("しょちょう" if centre else "ちょう"),
                code,
                head,
                (d1, d2),
            )
        )
    people += [
        _Person(ADMIN, f"{root}-B04-1", "係長", User.Role.ADMIN),  # ICT戦略室 企画課
        _Person(COORDINATOR, f"{crisis}-2", "主任", User.Role.COORDINATOR),  # 防災計画課
        _Person(STAFF, f"{root}-W01-1", "主事", User.Role.STAFF),  # 北区 総務課
    ]
    return people, posts


# Staff the command groups need besides the post holders and deputies: (unit code, how many,
# first employee number). They get accounts (role staff) so they are recipients.
CRISIS_OFFICE = f"{DEMO_ROOT_CODE}-B01"  # 危機管理室: 危機管理課, 防災計画課, 地域防災課
SECRETARIAT = f"{DEMO_ROOT_CODE}-B03"  # 秘書課: 秘書係, 渉外係
GROUP_STAFF = [
    (f"{CRISIS_OFFICE}-1", 30, 601),
    (f"{CRISIS_OFFICE}-2", 25, 631),
    (f"{CRISIS_OFFICE}-3", 25, 656),
    (f"{SECRETARIAT}-1", 20, 701),
    (f"{SECRETARIAT}-2", 15, 721),
]
GROUP_STAFF_TITLES = ["主事", "主任", "主事", "技師", "係長", "主任", "主事", "課長代理"]


def _group_people() -> list[_Person]:
    """Crisis office and secretariat staff, then three section chiefs per ward (総務課長 is
    already a deputy). Seeded in this order while ``--staff`` leaves room."""
    people = [
        _Person(
            f"{first + n:06d}",
            unit,
            GROUP_STAFF_TITLES[n % len(GROUP_STAFF_TITLES)],
            User.Role.STAFF,
        )
        for unit, count, first in GROUP_STAFF
        for n in range(count)
    ]
    sections = WARD_SECTIONS.split()
    for i in range(1, len(WARDS.split()) + 1):
        for j in range(2, len(sections) + 1):
            people.append(
                _Person(
                    f"{500 + 3 * (i - 1) + (j - 1):06d}",
                    f"{DEMO_ROOT_CODE}-W{i:02d}-{j}",
                    f"{sections[j - 1]}長",
                    User.Role.STAFF,
                )
            )
    return people


def _batches(items: list, size: int = BATCH) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def demo_city_loaded() -> bool:
    return OrgUnit.objects.filter(code=DEMO_ROOT_CODE).exists()


def demo_city_seed(*, staff_count: int = DEFAULT_STAFF, seed: int = DEMO_SEED) -> DemoSummary:
    """Create the demo city with ``staff_count`` staff in all. Does nothing if it is loaded."""
    started = time.monotonic()
    if demo_city_loaded():
        # A city seeded before the command groups existed gets them now; otherwise a no-op.
        with transaction.atomic():
            groups = demo_groups_seed()
        return DemoSummary(
            already_loaded=True,
            groups=groups.groups,
            memberships=groups.memberships,
            messages=groups.messages,
            group_lines=demo_group_lines(),
        )
    people, posts = _key_people_and_posts()
    if staff_count < len(people):
        raise DemoSeedError(f"--staff must be at least {len(people)} (the headquarters key people)")
    people += _group_people()[: staff_count - len(people)]
    try:
        with transaction.atomic():
            summary = _seed(people, posts, staff_count, seed)
            groups = demo_groups_seed()
    except IntegrityError as exc:
        raise DemoSeedError(
            f"the demo city clashes with existing units, staff or accounts ({exc}); "
            "seed it into an empty database"
        ) from exc
    summary.groups, summary.memberships = groups.groups, groups.memberships
    summary.messages, summary.group_lines = groups.messages, demo_group_lines()
    summary.seconds = time.monotonic() - started
    return summary


def _seed(people: list[_Person], posts: list[_Post], staff_count: int, seed: int) -> DemoSummary:
    # Units, level by level so parents have ids; then the materialised paths in one pass.
    units: dict[str, OrgUnit] = {}
    specs = _units()
    depth: dict[str, int] = {}
    for code, *_rest, parent in specs:  # parents come first
        depth[code] = 0 if parent is None else depth[parent] + 1
    for level in range(max(depth.values()) + 1):
        rows = []
        for order, (code, name, kana, kind, parent) in enumerate(specs):
            if depth[code] == level:
                unit = OrgUnit(
                    code=code,
                    name=name,
                    kana=kana,
                    kind=kind,
                    sort_order=order,
                    parent=units[parent] if parent else None,
                )
                unit.search_key = services.unit_search_key(unit)
                rows.append(unit)
        for unit in OrgUnit.objects.bulk_create(rows, batch_size=BATCH):
            units[unit.code] = unit
    services.unit_rebuild_paths()

    # Staff: the key people first, then the rest. Names come from their own random stream, so
    # the key people's names do not depend on the staff count.
    rng, place_rng = random.Random(seed), random.Random(seed + 1)
    leaves = [u for u in units.values() if u.kind == OrgUnit.Kind.SECTION]
    titles = [t for t, weight in JOB_TITLES for _ in range(weight)]
    everyone = list(people) + [
        _Person(f"{100001 + n:06d}", place_rng.choice(leaves).code, place_rng.choice(titles))
        for n in range(staff_count - len(people))
    ]
    staff_rows = []
    for p in everyone:
        family, family_kana = rng.choice(FAMILY_NAMES)
        given, given_kana = rng.choice(GIVEN_NAMES)
        mobile = (
            f"090-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
            if p.role is not None or rng.random() < 0.25
            else ""
        )
        s = Staff(
            employee_number=p.employee_number,
            family_name=family,
            given_name=given,
            family_kana=family_kana,
            given_kana=given_kana,
            unit=units[p.unit_code],
            job_title=p.job_title,
            email=f"s{p.employee_number}@{EMAIL_DOMAIN}",
            mobile=mobile,
        )
        s.search_key, s.kana_sort = services.staff_search_fields(s)
        staff_rows.append(s)

    # Accounts for everyone with a role: one password hash shared by all (hashing is slow).
    password = make_password(DEMO_PASSWORD)
    by_number = {s.employee_number: s for s in staff_rows}
    users = User.objects.bulk_create(
        [
            User(
                username=p.employee_number,
                email=by_number[p.employee_number].email,
                first_name=by_number[p.employee_number].given_name,
                last_name=by_number[p.employee_number].family_name,
                password=password,
                role=p.role if p.role == User.Role.HQ_MEMBER else User.Role.STAFF,
            )
            for p in people
        ],
        batch_size=BATCH,
    )
    for user in users:
        by_number[user.username].user = user
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users],
        batch_size=BATCH,
    )
    for batch in _batches(staff_rows):
        Staff.objects.bulk_create(batch)
    staff = {
        s.employee_number: s
        for s in Staff.objects.filter(employee_number__in=[p.employee_number for p in people])
    }
    for p in people:
        if p.role in (User.Role.ADMIN, User.Role.COORDINATOR):
            services.user_set_role(user=staff[p.employee_number].user, role=p.role, actor=None)

    # Posts through the services (79 of them), so holders and deputies are audited like any
    # later change.
    for order, spec in enumerate(posts, start=1):
        post = services.post_create(
            code=spec.code,
            name=spec.name,
            kana=spec.kana,
            unit=units[spec.unit_code],
            sort_order=order,
            actor=None,
        )
        services.post_set_deputies(
            post=post, deputies=[staff[d] for d in spec.deputies], actor=None
        )
        services.post_assign_holder(
            post=post, holder=staff[spec.holder], actor=None, reason=SEED_REASON
        )

    return DemoSummary(
        already_loaded=False,
        units=len(units),
        staff=len(staff_rows),
        accounts=len(users),
        posts=len(posts),
        deputies=2 * len(posts),
    )


# --- command groups -------------------------------------------------------------------------
HQ_GROUP_NAME = "大阪市災害対策本部"
OFFICE_GROUP_NAME = "危機管理室"
# Fixed client ids make the sample messages idempotent (message_send returns the first one).
_MESSAGE_NS = uuid.UUID("6f1c1a52-8a4e-4d39-9d1e-2b4a7c0f5e11")
SAMPLE_INSTRUCTION = (
    "【指示】市内で震度6弱を観測しました。各局・各区は人的被害、建物被害、避難所の開設状況を"
    "15時までに報告してください。了解の返信をお願いします。"
)
SAMPLE_REPLY = (
    "北区：了解しました。区災害対策本部を設置済み。人的被害の報告なし、避難所3か所を開設中。"
)
_C, _M, _OBS = (
    GroupMembership.Role.COMMANDER,
    GroupMembership.Role.MEMBER,
    GroupMembership.Role.OBSERVER,
)


@dataclass
class _GroupsSeeded:
    groups: int = 0
    memberships: int = 0
    messages: int = 0


def _group_get_or_create(
    *, name: str, kind: str, unit: OrgUnit, description: str, out: _GroupsSeeded
) -> CommandGroup:
    group = CommandGroup.objects.filter(kind=kind, unit=unit).first()
    if group is None:
        group = messaging_services.group_create(
            name=name, kind=kind, unit=unit, description=description, actor=None
        )
        out.groups += 1
    return group


def _add(group: CommandGroup, out: _GroupsSeeded, role: str, *, post=None, staff=None) -> None:
    lookup = {"post": post} if post is not None else {"staff": staff}
    if GroupMembership.objects.filter(group=group, role=role, **lookup).exists():
        return  # the cheap path for a second run
    messaging_services.group_add_member(group=group, actor=None, role=role, **lookup)
    out.memberships += 1


def _staff_with_accounts(unit: OrgUnit, exclude: set[int]) -> list[Staff]:
    """Staff of ``unit`` and the units under it who can sign in, minus post holders who are
    already in the group through their post."""
    return [
        s
        for s in Staff.objects.filter(
            unit__path__startswith=unit.path, user__isnull=False, is_active=True
        ).order_by("employee_number")
        if s.pk not in exclude
    ]


def demo_groups_seed() -> _GroupsSeeded:
    """The demo city's command groups and two sample messages, through the messaging services.

    Idempotent: groups are found by (kind, unit), memberships by (group, post/staff, role), the
    sample messages by fixed client ids; a second run creates nothing.
    """
    out = _GroupsSeeded()
    root = OrgUnit.objects.get(code=DEMO_ROOT_CODE)
    crisis = OrgUnit.objects.get(code=CRISIS_OFFICE)
    secretariat = OrgUnit.objects.get(code=SECRETARIAT)
    posts = {p.code: p for p in Post.objects.filter(unit__path__startswith=root.path)}
    kikikanrikan = posts[f"{DEMO_ROOT_CODE}-KIKIKANRIKAN"]
    holders = {p.holder_id for p in posts.values() if p.holder_id}

    # 大阪市災害対策本部: the 本部長, 副本部長 and 危機管理監 posts command; every bureau/office
    # and ward head post is a member; the crisis office (the HQ's 事務局) posts as members, the
    # secretariat follows as observers (they read everything, the heads speak for the HQ).
    hq = _group_get_or_create(
        name=HQ_GROUP_NAME,
        kind=CommandGroup.Kind.HEADQUARTERS,
        unit=root,
        description="本部長・副本部長・危機管理監、各局・室長、各区長、危機管理室、秘書課",
        out=out,
    )
    commanders = {f"{DEMO_ROOT_CODE}-HONBUCHO", kikikanrikan.code} | {
        f"{DEMO_ROOT_CODE}-FUKU{n}" for n in (1, 2, 3)
    }
    for post in sorted(posts.values(), key=lambda p: p.sort_order):
        _add(hq, out, _C if post.code in commanders else _M, post=post)
    for person in _staff_with_accounts(crisis, holders):
        _add(hq, out, _M, staff=person)
    for person in _staff_with_accounts(secretariat, holders):
        _add(hq, out, _OBS, staff=person)

    # One ward headquarters per ward: the ward head commands, the deputy ward head and section
    # chiefs (and, in 北区, the demo staff sign-in) are members, the 危機管理監 observes.
    for ward in OrgUnit.objects.filter(kind=OrgUnit.Kind.WARD, path__startswith=root.path).order_by(
        "sort_order"
    ):
        group = _group_get_or_create(
            name=f"{ward.name}災害対策本部",
            kind=CommandGroup.Kind.WARD_HEADQUARTERS,
            unit=ward,
            description=f"{ward.name}長、副区長、各課長",
            out=out,
        )
        _add(group, out, _C, post=posts[ward.code])
        for person in _staff_with_accounts(ward, holders):
            _add(group, out, _M, staff=person)
        _add(group, out, _OBS, post=kikikanrikan)

    # 危機管理室: the office's own group; the 危機管理監 and the 室長 command.
    office = _group_get_or_create(
        name=OFFICE_GROUP_NAME,
        kind=CommandGroup.Kind.OFFICE,
        unit=crisis,
        description="危機管理室の職員",
        out=out,
    )
    _add(office, out, _C, post=kikikanrikan)
    _add(office, out, _C, post=posts[CRISIS_OFFICE])
    for person in _staff_with_accounts(crisis, holders):
        _add(office, out, _M, staff=person)

    # Two sample messages so the demo is not empty: the mayor's urgent instruction asking for
    # 了解, and the 北区長's reply to it (who also acknowledges it).
    mayor = posts[f"{DEMO_ROOT_CODE}-HONBUCHO"].holder.user
    ward_head = posts[f"{DEMO_ROOT_CODE}-W01"].holder.user
    instruction = messaging_services.message_send(
        group=hq,
        sender=mayor,
        body=SAMPLE_INSTRUCTION,
        client_id=uuid.uuid5(_MESSAGE_NS, "hq-instruction"),
        kind=Message.Kind.INSTRUCTION,
        priority=Message.Priority.URGENT,
        requires_ack=True,
    )
    reply = messaging_services.message_send(
        group=hq,
        sender=ward_head,
        body=SAMPLE_REPLY,
        client_id=uuid.uuid5(_MESSAGE_NS, "hq-reply"),
        reply_to_id=instruction.message.pk,
    )
    out.messages = int(instruction.created) + int(reply.created)
    if reply.created:
        messaging_services.receipt_mark_read(user=ward_head, group=hq, up_to_seq=reply.message.seq)
        messaging_services.receipt_acknowledge(user=ward_head, message=instruction.message)
    return out


def demo_groups() -> list[CommandGroup]:
    """The demo city's command groups: the city HQ, the 危機管理室 group, the ward HQs."""
    root = OrgUnit.objects.filter(code=DEMO_ROOT_CODE).first()
    if root is None:
        return []
    order = {CommandGroup.Kind.HEADQUARTERS: 0, CommandGroup.Kind.OFFICE: 1}
    groups = CommandGroup.objects.filter(unit__path__startswith=root.path).select_related("unit")
    return sorted(groups, key=lambda g: (order.get(g.kind, 2), g.unit.sort_order, g.pk))


def demo_group_lines() -> list[DemoGroupLine]:
    return [
        DemoGroupLine(
            name=g.name,
            kind=g.kind,
            recipients=len(messaging_selectors.group_recipients(group=g)),
            messages=g.last_seq,
        )
        for g in demo_groups()
    ]


def _purge(rows) -> None:
    """Delete ``rows`` after every messaging row that points at them (receipts, versions,
    attachments, chases, notifications ... whatever messaging adds), deepest first."""
    for rel in rows.model._meta.related_objects:
        related = rel.related_model
        if related._meta.app_label != "messaging" or related is rows.model:
            continue
        _purge(related._base_manager.filter(**{f"{rel.field.name}__in": rows}))
    rows.delete()


def _demo_groups_delete(root: OrgUnit) -> None:
    """Delete the demo's command groups with their messages (--reset of a DEMO city only:
    messages are public records everywhere else). Demo groups are those of a demo unit and
    those (one-to-one, ad hoc) whose every member is a demo post or demo staff member."""
    in_city = Q(post__unit__path__startswith=root.path) | Q(staff__unit__path__startswith=root.path)
    demo_rows = set(GroupMembership.objects.filter(in_city).values_list("id", flat=True))
    with_members, foreign = set(), set()
    for membership_id, group_id in GroupMembership.objects.values_list("id", "group_id"):
        with_members.add(group_id)
        if membership_id not in demo_rows:
            foreign.add(group_id)
    ids = set(
        CommandGroup.objects.filter(unit__path__startswith=root.path).values_list("id", flat=True)
    ) | (with_members - foreign)
    groups = CommandGroup.objects.filter(pk__in=ids)
    files = [
        f.name
        for a in Attachment.objects.filter(group__in=groups)
        for f in (a.file, a.thumbnail)
        if f
    ]
    Message.objects.filter(group__in=groups).update(reply_to=None)
    _purge(groups)

    def remove_files() -> None:
        storage = Attachment._meta.get_field("file").storage
        for name in files:
            storage.delete(name)

    transaction.on_commit(remove_files)


def demo_city_delete() -> int:
    """Delete the demo city (units, staff, posts, their accounts, the demo's command groups
    and their messages). Audit entries stay.

    Refuses (ProtectedError) when demo accounts did something recorded outside the demo, e.g.
    sent a message in a group that is not the demo's or wrote an audit entry: that stays.
    """
    root = OrgUnit.objects.filter(code=DEMO_ROOT_CODE).first()
    if root is None:
        return 0
    with transaction.atomic():
        _demo_groups_delete(root)
        in_city = Q(unit__path__startswith=root.path)
        PostDeputy.objects.filter(post__unit__path__startswith=root.path).delete()
        Post.objects.filter(in_city).delete()
        user_ids = list(
            Staff.objects.filter(in_city, user__isnull=False).values_list("user_id", flat=True)
        )
        deleted, _ = Staff.objects.filter(in_city).delete()
        EmailAddress.objects.filter(user_id__in=user_ids).delete()
        User.objects.filter(pk__in=user_ids).delete()
        units = OrgUnit.objects.filter(path__startswith=root.path)
        for depth in sorted(set(units.values_list("depth", flat=True)), reverse=True):
            units.filter(depth=depth).delete()
    return deleted


def demo_signins() -> list[tuple[str, str, str]]:
    """(role label, login, name) of the five demo sign-ins that exist in the database."""
    numbers = [number for number, _label in SIGNIN_LABELS]
    try:
        names = {
            number: f"{family} {given}"
            for number, family, given in Staff.objects.filter(
                employee_number__in=numbers,
                user__isnull=False,
                unit__code__startswith=DEMO_ROOT_CODE,
            ).values_list("employee_number", "family_name", "given_name")
        }
    except DatabaseError:  # not migrated yet
        return []
    return [(label, number, names[number]) for number, label in SIGNIN_LABELS if number in names]
