"""`python -m devstack.supplier`, the supplier API `make run` starts: the shape the sync expects."""

import sys
from decimal import Decimal

import pytest
import requests

from local_servers import answers, free_port, wait_until
from tests import processes

pytestmark = pytest.mark.system


def test_every_sku_has_a_steady_price_and_stock_and_other_paths_are_404(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "devstack.supplier", "--port", str(port)]
    env = processes.service_environment("", "")
    server = processes.start(command, env, processes.ROOT, tmp_path / "supplier.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/healthz"), 30, "the supplier stand-in to listen")
        first = requests.get(f"{url}/products/KT-1", timeout=5)
        assert first.status_code == 200
        offer = first.json()
        assert Decimal(offer["price"]).as_tuple().exponent == -2
        assert Decimal("1.00") <= Decimal(offer["price"]) <= Decimal("200.00")
        assert 0 <= offer["stock"] <= 99
        assert requests.get(f"{url}/products/KT-1", timeout=5).json() == offer
        assert requests.get(f"{url}/products/KT-2", timeout=5).json() != offer
        assert requests.get(f"{url}/products/", timeout=5).status_code == 404
        assert requests.get(f"{url}/elsewhere", timeout=5).status_code == 404
    finally:
        processes.stop(server)
