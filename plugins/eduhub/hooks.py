"""Airflow hooks: the only place that turns Airflow connections into clients.

Connections (ids in eduhub.settings; fields documented in the README):
- `eduhub_warehouse` (postgres): the warehouse.
- `sms_vendor_a` (http): host, port, schema = http|https, login = client id,
  password = client secret, extra {"base_path": "/vendor-a/api/v1"}.
"""

from __future__ import annotations

from airflow.sdk import BaseHook

from eduhub import settings
from eduhub.sources.vendor_a import VendorAClient
from eduhub.warehouse import WarehouseUrl


class WarehouseHook(BaseHook):
    conn_name_attr = "warehouse_conn_id"
    default_conn_name = settings.WAREHOUSE_CONN_ID
    conn_type = "postgres"
    hook_name = "EduHub warehouse"

    def __init__(self, warehouse_conn_id: str = default_conn_name):
        super().__init__()
        self.warehouse_conn_id = warehouse_conn_id

    def url(self, driver: str | None = None) -> str:
        conn = self.get_connection(self.warehouse_conn_id)
        return WarehouseUrl(conn.host, conn.port or 5432, conn.login or "", conn.password or "",
                            conn.schema or "postgres").url(driver)


class SmsVendorAHook(BaseHook):
    conn_name_attr = "vendor_a_conn_id"
    default_conn_name = settings.SMS_VENDOR_A_CONN_ID
    conn_type = "http"
    hook_name = "School management vendor A"

    def __init__(self, vendor_a_conn_id: str = default_conn_name):
        super().__init__()
        self.vendor_a_conn_id = vendor_a_conn_id

    def get_client(self) -> VendorAClient:
        conn = self.get_connection(self.vendor_a_conn_id)
        scheme = conn.schema or "https"
        port = f":{conn.port}" if conn.port else ""
        base_path = conn.extra_dejson.get("base_path", "/api/v1")
        return VendorAClient(f"{scheme}://{conn.host}{port}{base_path}", conn.login or "",
                             conn.password or "")
