"""factory-boy factories for the console's models."""

from __future__ import annotations

import hashlib

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from console import roles


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])


class AdministratorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get_or_create(name=extracted or roles.ADMINISTRATORS)[0])


class HelpDeskFactory(UserFactory):
    username = factory.Sequence(lambda n: f"helpdesk{n}")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get_or_create(name=extracted or roles.HELP_DESK)[0])


class VPPTokenFactory(factory.django.DjangoModelFactory):
    """A token row without Apple behind it; tests that talk to Apple create tokens through the service."""

    class Meta:
        model = "tokens.VPPToken"

    name = factory.Sequence(lambda n: f"Token {n}")
    apple_id = factory.Sequence(lambda n: f"vpp{n}@example.com")
    country_or_region = "US"
    account_type = "business"
    token_content = factory.Sequence(lambda n: f"token-content-{n}")
    token_sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.token_content.encode()).hexdigest())
    organization_name = "Example Org"
    location_name = factory.Sequence(lambda n: f"Location {n}")
    location_uid = factory.Sequence(lambda n: f"{9000000000000000 + n}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=300))


class AppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "apps.App"

    vpp_token = factory.SubFactory(VPPTokenFactory)
    adam_id = factory.Sequence(lambda n: str(100000000 + n))
    name = factory.Sequence(lambda n: f"App {n}")
    bundle_id = factory.Sequence(lambda n: f"com.example.app{n}")
    platforms = factory.LazyFunction(lambda: ["iOS"])
    supports_device_licensing = True
    total_licenses = 10
    used_licenses = 0
    available_licenses = 10


class DirectoryUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "directory.DirectoryUser"

    display_name = factory.Sequence(lambda n: f"Person {n}")
    user_principal_name = factory.Sequence(lambda n: f"person{n}@example.com")
    email = factory.LazyAttribute(lambda o: o.user_principal_name)
    managed_apple_id = factory.LazyAttribute(lambda o: o.user_principal_name.replace("@", "@appleid."))


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "directory.Device"

    serial_number = factory.Sequence(lambda n: f"C02SN{n:07d}")
    name = factory.Sequence(lambda n: f"iPad {n}")
    model = "iPad (10th generation)"
    platform = "iPadOS"
    os_version = "18.1"
    supervised = True


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "directory.Group"

    name = factory.Sequence(lambda n: f"Group {n}")
    group_type = "device"
