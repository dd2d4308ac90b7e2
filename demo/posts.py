"""The demo city's headquarters posts and who stands in: 本部長, three 副本部長, 危機管理監, one
head post per ward and per bureau or office, each with a holder and two ordered deputies.
These key people have fixed employee numbers (``000001`` the mayor, ``000101`` the first ward
head …) and all get accounts (role ``hq_member``), so their names do not depend on ``--staff``.
"""

from __future__ import annotations

from dataclasses import dataclass

from directory import services
from directory.models import OrgUnit, Post, PostDeputy, Staff, User

from .data import ADMIN, BUREAUS, COORDINATOR, DEMO_ROOT_CODE, MAYOR, STAFF, WARDS
from .staff import Person

SEED_REASON = "demo city (seed_demo)"


@dataclass
class PostSpec:
    code: str
    name: str
    kana: str
    unit_code: str
    holder: str
    deputies: tuple[str, str]


def head_title(unit_name: str) -> str:
    """局長, 室長, 課長, 所長 (センター, 事務所), 場長 (市場)."""
    for suffix, title in (("センター", "所長"), ("事務所", "所長"), ("市場", "場長")):
        if unit_name.endswith(suffix):
            return title
    return unit_name[-1] + "長"


def key_people_and_posts() -> tuple[list[Person], list[PostSpec]]:
    """The headquarters: who holds which post and who stands in, with fixed employee numbers."""
    hq, root = User.Role.HQ_MEMBER, DEMO_ROOT_CODE
    people = [Person(MAYOR, root, "市長", hq)]
    people += [Person(f"00000{n}", root, "副市長", hq) for n in (2, 3, 4)]
    crisis = f"{root}-B01"  # 危機管理室
    people += [
        Person("000005", crisis, "危機管理監", hq),
        Person("000006", crisis, "危機管理副監", hq),
        Person("000007", f"{crisis}-1", "危機管理課長", hq),
    ]
    posts = [
        PostSpec(f"{root}-HONBUCHO", "本部長", "ほんぶちょう", root, MAYOR, ("000002", "000003"))
    ]
    for n, deputies in (
        (2, ("000003", "000004")),
        (3, ("000004", "000002")),
        (4, ("000002", "000003")),
    ):
        posts.append(
            PostSpec(
                f"{root}-FUKU{n - 1}", "副本部長", "ふくほんぶちょう", root, f"00000{n}", deputies
            )
        )
    posts.append(
        PostSpec(
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
            Person(head, code, "区長", hq),
            Person(d1, code, "副区長", hq),
            Person(d2, f"{code}-1", "総務課長", hq),
        ]
        posts.append(
            PostSpec(f"{root}-W{i:02d}", f"{name}長", f"{kana}ちょう", code, head, (d1, d2))
        )
    for i, (name, kana, _kind, children) in enumerate(BUREAUS, start=1):
        code = f"{root}-B{i:02d}"
        first = children.split()[0].partition(":")[0]
        head, d1, d2 = f"{300 + i:06d}", f"{398 + 2 * i:06d}", f"{399 + 2 * i:06d}"
        centre = name.endswith("センター")
        people += [
            Person(head, code, head_title(name), hq),
            Person(d1, code, "次長", hq),
            Person(d2, f"{code}-1", f"{first}長", hq),
        ]
        posts.append(
            PostSpec(
                code,
                name + ("所長" if centre else "長"),
                kana + ("しょちょう" if centre else "ちょう"),
                code,
                head,
                (d1, d2),
            )
        )
    people += [
        Person(ADMIN, f"{root}-B04-1", "係長", User.Role.ADMIN),  # ICT戦略室 企画課
        Person(COORDINATOR, f"{crisis}-2", "主任", User.Role.COORDINATOR),  # 防災計画課
        Person(STAFF, f"{root}-W01-1", "主事", User.Role.STAFF),  # 北区 総務課
    ]
    return people, posts


def demo_posts_seed(
    *, posts: list[PostSpec], units: dict[str, OrgUnit], staff: dict[str, Staff]
) -> None:
    """The posts through the services (79 of them), so holders and deputies are audited like
    any later change. ``staff``: the key people by employee number."""
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


def demo_posts_delete(root: OrgUnit) -> None:
    """Delete the demo city's posts and their deputies (audit entries stay)."""
    PostDeputy.objects.filter(post__unit__path__startswith=root.path).delete()
    Post.objects.filter(unit__path__startswith=root.path).delete()
