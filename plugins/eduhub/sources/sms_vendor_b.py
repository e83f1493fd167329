"""Client of school management vendor B: API key, cursor pagination, Vietnamese field names,
dd/mm/yyyy dates. Contract: docs/sources/sms_vendor_b.md."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from eduhub.landing import EntitySpec
from eduhub.sources.base import Listing, SourceClient

SOURCE = "sms_vendor_b"
PAGE_SIZE = 500
VN_TZ = timezone(timedelta(hours=7))


def vn_stamp_to_iso(value: str) -> str:
    """'dd/mm/yyyy HH:MM:SS' (Vietnam time) -> ISO 8601, so watermarks compare as text."""
    return datetime.strptime(value, "%d/%m/%Y %H:%M:%S").replace(tzinfo=VN_TZ).isoformat()


def _spec(entity: str, keys: tuple[str, ...], fields: set[str]) -> EntitySpec:
    return EntitySpec(SOURCE, entity, keys, frozenset(fields | {"ngay_cap_nhat"}),
                      watermark_field="ngay_cap_nhat", watermark_parser=vn_stamp_to_iso)


SCHOOLS = _spec("schools", ("ma_truong",),
                {"ma_truong", "ten_truong", "cap_hoc", "ma_xa", "don_vi_quan_ly"})
# landed entity -> spec; the API's path of each in PATHS
PER_SCHOOL = {
    "learners": _spec("learners", ("ma_truong", "ma_dinh_danh_bo"), {
        "ma_dinh_danh_bo", "so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "dan_toc",
        "ma_truong", "ma_lop", "lop", "khoi", "trang_thai", "ma_xa_thuong_tru",
        "so_dien_thoai"}),
    "classes": _spec("classes", ("ma_lop",), {
        "ma_lop", "ma_truong", "nam_hoc", "ten_lop", "khoi", "ma_gvcn"}),
    "staff": _spec("staff", ("ma_truong", "ma_dinh_danh_bo"), {
        "ma_dinh_danh_bo", "so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "dan_toc",
        "ma_truong", "vi_tri_viec_lam", "trinh_do_dao_tao", "mon_day"}),
    "facilities": _spec("facilities", ("ma_truong", "nam_hoc"), {
        "ma_truong", "nam_hoc", "so_phong_hoc", "so_phong_hoc_kien_co", "nuoc_sach",
        "so_cong_trinh_ve_sinh", "thiet_bi_day_hoc_toi_thieu", "so_nha_cong_vu"}),
    "results": _spec(
        "results", ("ma_truong", "ma_dinh_danh_bo", "nam_hoc", "hoc_ky"), {
            "ma_dinh_danh_bo", "ma_truong", "nam_hoc", "hoc_ky", "diem", "danh_gia",
            "ren_luyen"}),
    "health": _spec("health", ("ma_truong", "ma_dinh_danh_bo", "nam_hoc"), {
        "ma_dinh_danh_bo", "ma_truong", "nam_hoc", "ngay_kham", "chieu_cao_cm", "can_nang_kg",
        "tinh_trang_dinh_duong"}),
    "transcripts": _spec("transcripts", ("ma_truong", "ma_dinh_danh_bo", "nam_hoc"), {
        "ma_dinh_danh_bo", "ma_truong", "nam_hoc", "trang_thai_hoc_ba"}),
}

PATHS = {"learners": "hoc-sinh", "classes": "lop-hoc", "staff": "can-bo",
         "facilities": "co-so-vat-chat", "results": "ket-qua-hoc-tap", "health": "suc-khoe",
         "transcripts": "hoc-ba-so"}


class VendorBClient(SourceClient):
    source = SOURCE

    def __init__(self, base_url: str, api_key: str, page_size: int = PAGE_SIZE, **retry_options):
        super().__init__(base_url, **retry_options)
        self.session.headers["X-API-Key"] = api_key
        self.page_size = page_size

    def listing(self, path: str, params: dict | None = None) -> Listing:
        """Follow the cursor to the end; cursors are stable, so one pass suffices."""
        records: list = []
        cursor = None
        page = 0
        seen: set[str] = set()
        while True:
            page += 1
            self.check_page(f"/{path}", page, cursor, seen)
            query = {**(params or {}), "limit": self.page_size}
            if cursor:
                query["cursor"] = cursor
            body = self.request("GET", f"/{path}", page=str(page), params=query)
            records.extend(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return Listing(records, total=None)

    def counted_listing(self, path: str, params: dict | None = None) -> Listing:
        """A full listing with its count. Vendor B reports no total, so a second pass counts
        the records: a first pass cut short (a page lost, a cursor that ended early) differs
        from it, and landing's count check rejects the partition instead of withdrawing what
        the short pass missed."""
        first = self.listing(path, params)
        count = len(self.listing(path, params).records)
        return Listing(first.records, total=count, passes=2)

    def schools_listing(self) -> Listing:
        return self.counted_listing("truong")

    def school_listing(self, entity: str, school_code: str,
                       updated_since: str | None = None) -> Listing:
        params = {"ma_truong": school_code}
        if updated_since:  # an incremental read withdraws nothing: no count needed
            return self.listing(PATHS[entity], {**params, "updated_since": updated_since})
        return self.counted_listing(PATHS[entity], params)
