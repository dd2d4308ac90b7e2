"""factory_boy factories. Rows are built through the same search-key logic as services."""

from __future__ import annotations

import factory

from directory import services
from directory.models import OrgUnit, Post, Staff, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"U{n:06d}")
    email = factory.LazyAttribute(lambda o: f"{o.username.lower()}@city.example.jp")
    role = User.Role.STAFF
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def finish(obj, create, extracted, **kwargs):
        if create:
            obj.is_staff = obj.is_superuser = obj.role == User.Role.ADMIN
            obj.save()


class OrgUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrgUnit

    code = factory.Sequence(lambda n: f"U{n:05d}")
    name = factory.Sequence(lambda n: f"第{n}課")
    kana = factory.Sequence(lambda n: f"だい{n}か")
    kind = OrgUnit.Kind.SECTION
    parent = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.unit_create(**kwargs)


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff

    employee_number = factory.Sequence(lambda n: f"{100000 + n}")
    family_name = "山田"
    given_name = factory.Sequence(lambda n: f"太郎{n}")
    family_kana = "やまだ"
    given_kana = factory.Sequence(lambda n: f"たろう{n}")
    unit = factory.SubFactory(OrgUnitFactory)
    job_title = "主事"
    email = factory.LazyAttribute(lambda o: f"s{o.employee_number}@city.example.jp")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        user = kwargs.pop("user", None)
        staff = services.staff_create(**kwargs)
        if user is not None:
            staff.user = user
            staff.save(update_fields=["user"])
        return staff


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    code = factory.Sequence(lambda n: f"P{n:04d}")
    name = factory.Sequence(lambda n: f"第{n}局長")
    kana = factory.Sequence(lambda n: f"だい{n}きょくちょう")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.post_create(**kwargs)
