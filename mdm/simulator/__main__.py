"""``python -m mdm.simulator``: run the NanoMDM + devices stand-in until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

from .simulator import NanoMDMSimulator

logger = logging.getLogger("mdm.simulator")


def _wait_for(url: str, timeout: float) -> bool:
    """Wait until something listens at the URL's host and port (the console may start after us)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mdm.simulator",
        description="A stand-in for NanoMDM and its devices: enqueue/push API, webhook events.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--api-key",
        default=os.environ.get("NANOMDM_API_KEY"),
        help="NanoMDM's -api key (default: $NANOMDM_API_KEY); without one the API is off",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("NANOMDM_SIMULATOR_WEBHOOK_URL"),
        help="where events are posted (the console's /webhooks/nanomdm/)",
    )
    parser.add_argument(
        "--hmac-key",
        default=os.environ.get("NANOMDM_WEBHOOK_HMAC_KEY"),
        help="signs events with X-Hmac-Signature (default: $NANOMDM_WEBHOOK_HMAC_KEY)",
    )
    parser.add_argument(
        "--apple-url",
        default=os.environ.get("APPLE_SIMULATOR_URL"),
        help="root URL of the Apple simulator, asked for licenses before VPP installs",
    )
    parser.add_argument("--checkin-delay", type=float, default=0.5, help="seconds from push to check-in")
    parser.add_argument("--install-delay", type=float, default=2.0, help="seconds from install to Managed")
    parser.add_argument(
        "--storage",
        choices=("file", "mysql"),
        default="file",
        help="how unknown ids and reused command UUIDs are answered (NanoMDM's storage)",
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--demo-devices",
        type=int,
        default=0,
        help="enrol this many demo devices once the webhook URL accepts connections",
    )
    parser.add_argument(
        "--enroll-serials",
        default="",
        help="comma-separated serial numbers to enrol (e.g. the console's demo devices)",
    )
    parser.add_argument("--log-requests", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    simulator = NanoMDMSimulator(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        webhook_url=args.webhook_url,
        hmac_key=args.hmac_key,
        apple_url=args.apple_url,
        checkin_delay=args.checkin_delay,
        install_delay=args.install_delay,
        storage=args.storage,
        workers=args.workers,
        log_requests=args.log_requests,
    )
    simulator.start()
    print(
        f"NanoMDM simulator on {simulator.url} (API {'on' if args.api_key else 'off: no --api-key'}, "
        f"webhook {args.webhook_url or 'none'})",
        flush=True,
    )

    serials = [s.strip() for s in args.enroll_serials.split(",") if s.strip()]

    def demo() -> None:
        if args.webhook_url and not _wait_for(args.webhook_url, 120):
            logger.warning("the webhook URL did not answer; enrolling the devices anyway")
        if serials:
            simulator.state.enroll([{"serial_number": s} for s in serials])
        if args.demo_devices > 0:
            simulator.enroll_demo(args.demo_devices)
        logger.info("enrolling %d devices", len(serials) + max(args.demo_devices, 0))

    if args.demo_devices > 0 or serials:
        threading.Thread(target=demo, name="mdm-sim-demo", daemon=True).start()

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
