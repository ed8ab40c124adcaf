"""The simulated App Store catalogue: metadata lookup answers and generated icons."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

# Storefront ids of the App Store for the countries the demo uses; anything else falls back to the US one.
STOREFRONT_IDS: dict[str, str] = {
    "US": "143441",
    "FR": "143442",
    "DE": "143443",
    "GB": "143444",
    "IT": "143450",
    "ES": "143454",
    "CA": "143455",
    "AU": "143460",
    "JP": "143462",
    "CN": "143465",
    "NL": "143452",
    "CH": "143459",
}


@dataclass
class CatalogEntry:
    """One App Store product as the lookup endpoint describes it."""

    adam_id: str
    name: str
    bundle_id: str | None = None
    version: str = "1.0"
    product_type: str = "App"  # App | Book
    artist_name: str = ""
    genre_names: list[str] = field(default_factory=list)
    device_families: list[str] = field(default_factory=lambda: ["iphone", "ipad"])
    supported_platforms: list[str] = field(default_factory=lambda: ["iOS"])
    release_date: str = "2020-01-01"
    device_based_licensing: bool = True
    b2b_custom: bool = False
    # None = available in every storefront.
    storefronts: list[str] | None = None
    names: dict[str, str] = field(default_factory=dict)
    color: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CatalogEntry:
        """Build an entry from the fixture format."""
        return cls(
            adam_id=str(data["adamId"]),
            name=data["name"],
            bundle_id=data.get("bundleId"),
            version=str(data.get("version", "1.0")),
            product_type=data.get("productType", "App"),
            artist_name=data.get("artistName", ""),
            genre_names=list(data.get("genreNames", [])),
            device_families=list(data.get("deviceFamilies", ["iphone", "ipad"])),
            supported_platforms=list(data.get("supportedPlatforms", ["iOS"])),
            release_date=data.get("releaseDate", "2020-01-01"),
            device_based_licensing=bool(data.get("isVppDeviceBasedLicensingEnabled", True)),
            b2b_custom=bool(data.get("isB2BCustomApp", False)),
            storefronts=[s.upper() for s in data["storefronts"]] if data.get("storefronts") else None,
            names={k.upper(): v for k, v in data.get("names", {}).items()},
            color=data.get("color"),
        )

    def to_json(self) -> dict[str, Any]:
        """The fixture format (inverse of ``from_json``)."""
        data: dict[str, Any] = {
            "adamId": self.adam_id,
            "name": self.name,
            "bundleId": self.bundle_id,
            "version": self.version,
            "productType": self.product_type,
            "artistName": self.artist_name,
            "genreNames": self.genre_names,
            "deviceFamilies": self.device_families,
            "supportedPlatforms": self.supported_platforms,
            "releaseDate": self.release_date,
            "isVppDeviceBasedLicensingEnabled": self.device_based_licensing,
            "isB2BCustomApp": self.b2b_custom,
            "names": self.names,
        }
        if self.storefronts is not None:
            data["storefronts"] = self.storefronts
        if self.color:
            data["color"] = self.color
        return data

    def available_in(self, country: str) -> bool:
        """Whether the product exists in the storefront of ``country``."""
        return self.storefronts is None or country.upper() in self.storefronts

    def lookup_result(self, *, country: str, icon_base: str) -> dict[str, Any]:
        """The ``results[adamId]`` object of the legacy lookup answer, localised for ``country``."""
        cc = country.lower()
        name = self.names.get(country.upper(), self.name)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "item"
        is_book = self.product_type == "Book"
        store = "books" if is_book else "apps"
        kind = "ebook" if is_book else "iosSoftware"
        icon = f"{icon_base}/icons/{self.adam_id}.png"
        result: dict[str, Any] = {
            "id": self.adam_id,
            "name": name,
            "artistName": self.artist_name,
            "artwork": [
                {"width": 512, "height": 512, "url": f"{icon}?size=512"},
                {"width": 100, "height": 100, "url": f"{icon}?size=100"},
            ],
            "offers": [{"version": {"display": self.version}, "type": "get" if not is_book else "buy"}],
            "kind": kind,
            "deviceFamilies": list(self.device_families),
            "isVppDeviceBasedLicensingEnabled": self.device_based_licensing and not is_book,
            "isB2BCustomApp": self.b2b_custom,
            "url": f"https://{store}.apple.com/{cc}/{'book' if is_book else 'app'}/{slug}/id{self.adam_id}",
            "releaseDate": self.release_date,
            "genreNames": list(self.genre_names),
        }
        if self.bundle_id:
            result["bundleId"] = self.bundle_id
        return result


def lookup_response(results: dict[str, dict[str, Any]], country: str) -> dict[str, Any]:
    """Wrap lookup results the way Apple's ``MZStorePlatform.woa/wa/lookup`` does."""
    cc = country.upper()
    return {
        "results": results,
        "version": 2,
        "isAuthenticated": False,  # Apple always says false, even with a valid itvt cookie
        "meta": {
            "storefront": {"id": STOREFRONT_IDS.get(cc, STOREFRONT_IDS["US"]), "cc": cc},
            "language": {"tag": "en-us"},
        },
    }


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def icon_color(adam_id: str, color: str | None = None) -> tuple[int, int, int]:
    """The icon colour: the fixture's ``#rrggbb`` or one derived from the adamId."""
    if color and re.fullmatch(r"#?[0-9a-fA-F]{6}", color):
        value = color.lstrip("#")
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    digest = hashlib.sha256(adam_id.encode()).digest()
    return 60 + digest[0] % 160, 60 + digest[1] % 160, 60 + digest[2] % 160


def make_png(size: int, rgb: tuple[int, int, int]) -> bytes:
    """A square PNG of one colour with a lighter rounded-ish inset, built with zlib + struct only."""
    size = max(8, min(size, 1024))
    light = tuple(min(255, c + 70) for c in rgb)
    margin = size // 4
    rows = []
    for y in range(size):
        inside_y = margin <= y < size - margin
        row = bytearray(b"\x00")  # filter type 0 for this scanline
        for x in range(size):
            row.extend(light if inside_y and margin <= x < size - margin else rgb)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _png_chunk(b"IEND", b"")
    )
