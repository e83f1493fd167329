"""Vietnamese labels of the coded values the marts hold (readers never see a slug)."""

from __future__ import annotations

SCHOOL_LEVELS = {
    "mam_non": "Mầm non",
    "tieu_hoc": "Tiểu học",
    "thcs": "Trung học cơ sở",
    "thpt": "Trung học phổ thông",
    "gdtx": "Giáo dục thường xuyên",
    "khong_theo_truong": "Không theo trường (PCGD-XMC)",
}

CRITERIA = {"dung": "Đúng", "du": "Đủ", "sach": "Sạch", "song": "Sống"}

DOMAINS = {
    "reporting": "Báo cáo của trường",
    "learners": "Học sinh",
    "staff": "Đội ngũ",
    "facilities": "Cơ sở vật chất",
    "results": "Kết quả học tập",
    "health": "Sức khỏe",
    "transcripts": "Học bạ số",
}

TERMS = {"hk1": "Học kỳ I", "hk2": "Học kỳ II", "ca_nam": "Cả năm"}

# the data dates of the statistics (Thông tư 25/2024; the school calendar holds the days)
DATA_POINTS = {"dau_nam": "Đầu năm học", "cuoi_nam": "Cuối năm học"}

AGGREGATION_LEVELS = {"truong": "Trường", "xa": "Xã/phường",
                      "don_vi_quan_ly": "Đơn vị quản lý", "tinh": "Toàn tỉnh"}

SEXES = {"nam": "Nam", "nu": "Nữ"}

SELECTIONS = {"rui_ro": "Theo rủi ro", "ngau_nhien": "Ngẫu nhiên"}

VISIT_STATUSES = {"chua_kiem_tra": "Chưa kiểm tra", "da_kiem_tra": "Đã kiểm tra"}

# the sources and their entities, as the operators name them (eduhub.sources)
SOURCES = {
    "sms_vendor_a": "Phần mềm quản lý trường học (nhà cung cấp A)",
    "sms_vendor_b": "Phần mềm quản lý trường học (nhà cung cấp B)",
    "file_exports": "Tệp xuất của trường (xlsx)",
    "pcgd": "Hệ thống PCGD-XMC",
    "population": "CSDLQG về dân cư",
    "school_registry": "Danh mục đơn vị của Sở",
}
ENTITIES = {
    "schools": "Trường", "learners": "Học sinh", "staff": "Đội ngũ", "classes": "Lớp học",
    "results": "Kết quả học tập", "transcripts": "Học bạ số", "health": "Sức khỏe",
    "facilities": "Cơ sở vật chất", "households": "Hộ gia đình (PCGD-XMC)",
    "units": "Đơn vị",
}


def label(labels: dict[str, str], code) -> str:
    """The label of a code; an unknown code is shown as it is rather than hidden."""
    if code is None:
        return "-"
    return labels.get(str(code), str(code))
