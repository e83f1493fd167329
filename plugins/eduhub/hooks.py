"""Airflow hooks: the only place that turns Airflow connections into clients.

Connections (ids in eduhub.settings; fields documented in the README):
- `eduhub_warehouse` (postgres): the warehouse.
- `sms_vendor_a` (http): host, port, schema = http|https, login = client id,
  password = client secret, extra {"base_path": "/vendor-a/api/v1"}.
- `sms_vendor_b`, `population`, `pcgd`, `school_registry` (http): host, port, schema,
  password = API key, extra {"base_path": ...}.
Every source connection may set extra.read_timeout (seconds, default 30).
"""

from __future__ import annotations

from airflow.sdk import BaseHook

from eduhub import settings
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


class SourceHook(BaseHook):
    """An HTTP source: base URL from host, port, schema and extra.base_path."""

    conn_name_attr = "source_conn_id"
    conn_type = "http"
    default_base_path = "/api/v1"

    def __init__(self, source_conn_id: str | None = None):
        super().__init__()
        self.source_conn_id = source_conn_id or self.default_conn_name

    def connection(self):
        return self.get_connection(self.source_conn_id)

    def retry_options(self) -> dict:
        read_timeout = float(self.connection().extra_dejson.get("read_timeout", 30))
        return {"timeout": (5.0, read_timeout)}

    def base_url(self) -> str:
        conn = self.connection()
        port = f":{conn.port}" if conn.port else ""
        base_path = conn.extra_dejson.get("base_path", self.default_base_path)
        return f"{conn.schema or 'https'}://{conn.host}{port}{base_path}"


class SmsVendorAHook(SourceHook):
    default_conn_name = settings.SMS_VENDOR_A_CONN_ID
    hook_name = "School management vendor A"

    def get_client(self):
        from eduhub.sources.sms_vendor_a import VendorAClient

        conn = self.connection()
        return VendorAClient(self.base_url(), conn.login or "", conn.password or "",
                             **self.retry_options())


class SmsVendorBHook(SourceHook):
    default_conn_name = settings.SMS_VENDOR_B_CONN_ID
    hook_name = "School management vendor B"
    default_base_path = "/api"

    def get_client(self):
        from eduhub.sources.sms_vendor_b import VendorBClient

        return VendorBClient(self.base_url(), self.connection().password or "",
                             **self.retry_options())


class PopulationHook(SourceHook):
    default_conn_name = settings.POPULATION_CONN_ID
    hook_name = "Population database verification (CSDLQG về dân cư)"

    def get_client(self):
        from eduhub.sources.population import PopulationClient

        return PopulationClient(self.base_url(), self.connection().password or "",
                             **self.retry_options())


class PcgdHook(SourceHook):
    default_conn_name = settings.PCGD_CONN_ID
    hook_name = "PCGD-XMC (phổ cập giáo dục, xóa mù chữ)"

    def get_client(self):
        from eduhub.sources.pcgd import PcgdClient

        return PcgdClient(self.base_url(), self.connection().password or "",
                             **self.retry_options())


class SchoolRegistryHook(SourceHook):
    default_conn_name = settings.SCHOOL_REGISTRY_CONN_ID
    hook_name = "Danh mục đơn vị giáo dục của Sở (school registry)"

    def get_client(self):
        from eduhub.sources.school_registry import SchoolRegistryClient

        return SchoolRegistryClient(self.base_url(), self.connection().password or "",
                                    **self.retry_options())
