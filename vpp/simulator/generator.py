"""Generate a large simulated location (thousands of assets, a million assignments) as a state file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .tokens import derive_uid

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I/O, like Apple serials


def serial_number(index: int) -> str:
    """A deterministic, 12-character, Apple-looking serial number for device ``index``."""
    chars = []
    for _ in range(9):
        index, rest = divmod(index, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "C02" + "".join(reversed(chars))


def generate_location_data(
    *,
    org_name: str,
    location_name: str,
    assets: int = 5000,
    assignments: int = 1_000_000,
    users: int = 100,
    country: str = "US",
    account_type: str = "business",
) -> dict[str, Any]:
    """Fixture-format data for one big location (plus catalogue entries for its generated apps).

    Assignments are mostly device licences spread evenly over the assets; each of the first ``users`` users
    holds one user licence. Every asset keeps ~10% of its licences available.
    """
    assets = max(1, assets)
    users = max(0, min(users, assignments))
    uid = derive_uid(org_name, location_name)
    base_id = 1_900_000_000
    device_assignments = assignments - users
    per_asset, remainder = divmod(device_assignments, assets)
    # A pool of devices large enough that no asset needs the same serial twice.
    pool = max(per_asset + 1, device_assignments // 20, 1)
    catalog = []
    asset_items = []
    for i in range(assets):
        adam_id = str(base_id + i)
        count = per_asset + (1 if i < remainder else 0)
        offset = (i * 7919) % pool  # spread assets over different devices
        serials = [serial_number((offset + k) % pool) for k in range(count)]
        user_ids = [f"user-{u:06d}" for u in range(i, users, assets)]
        assigned = count + len(user_ids)
        asset_items.append(
            {
                "adamId": adam_id,
                "pricingParam": "STDQ",
                "productType": "App",
                "totalCount": assigned + max(5, assigned // 10),
                "serialNumbers": serials,
                "clientUserIds": user_ids,
            }
        )
        catalog.append(
            {
                "adamId": adam_id,
                "name": f"Generated App {i + 1}",
                "bundleId": f"com.example.generated{i + 1}",
                "version": "1.0",
                "artistName": "Example Software",
                "genreNames": ["Business"],
            }
        )
    user_items = [
        {
            "clientUserId": f"user-{u:06d}",
            "email": f"user{u}@example.com",
            "status": "Associated" if u % 2 == 0 else "Registered",
            "managedAppleId": f"user{u}@appleid.example.com" if u % 2 == 0 else None,
        }
        for u in range(users)
    ]
    return {
        "format": "vpp-simulator-state",
        "version": 1,
        "catalog": catalog,
        "locations": [
            {
                "uId": uid,
                "orgName": org_name,
                "locationName": location_name,
                "countryISO2ACode": country.upper(),
                "accountType": account_type,
                "users": user_items,
                "assets": asset_items,
            }
        ],
    }


def write_state_file(path: str | Path, data: dict[str, Any]) -> None:
    """Write state data compactly (a million serials is ~20 MB)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle, separators=(",", ":"))
