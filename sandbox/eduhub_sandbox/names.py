"""Vietnamese names and ethnic groups for the synthetic province, with rough real-world weights."""

from __future__ import annotations

# Family names by share of the population (approximate national figures).
FAMILY_NAMES = [
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 9.5), ("Phạm", 7), ("Huỳnh", 5), ("Hoàng", 3),
    ("Phan", 4.5), ("Võ", 3.9), ("Vũ", 2), ("Đặng", 2.1), ("Bùi", 2), ("Đỗ", 1.4),
    ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1), ("Lý", 0.5), ("Trương", 1), ("Đinh", 0.5),
    ("Lâm", 0.5), ("Tô", 0.3), ("Thái", 0.3), ("Mai", 0.3), ("Châu", 0.3), ("Tạ", 0.2),
]

MIDDLE_NAMES = {
    "nam": ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Gia", "Hoàng", "Công", "Anh", "Tấn",
            "Trọng", "Thanh", "Phước"],
    "nu": ["Thị", "Ngọc", "Thanh", "Kim", "Mỹ", "Bảo", "Phương", "Thu", "Khánh", "Hồng", "Như",
           "Yến", "Minh", "Tường"],
}

GIVEN_NAMES = {
    "nam": ["An", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Hải", "Hiếu", "Hòa", "Hùng",
            "Huy", "Khang", "Khoa", "Khôi", "Kiên", "Lâm", "Long", "Lộc", "Minh", "Nam", "Nghĩa",
            "Nhân", "Phát", "Phong", "Phúc", "Quân", "Quang", "Sơn", "Tài", "Tâm", "Thắng",
            "Thịnh", "Tiến", "Toàn", "Trí", "Trung", "Tuấn", "Vinh", "Vũ"],
    "nu": ["An", "Anh", "Châu", "Chi", "Diệp", "Dung", "Giang", "Hà", "Hạ", "Hân", "Hằng",
           "Hiền", "Hoa", "Hương", "Huyền", "Lan", "Linh", "Loan", "Mai", "My", "Ngân", "Ngọc",
           "Nhi", "Nhung", "Oanh", "Phương", "Quyên", "Tâm", "Thảo", "Thư", "Thủy", "Trang",
           "Trâm", "Trinh", "Tú", "Uyên", "Vân", "Vy", "Xuân", "Yến"],
}

# Tây Ninh + Long An: overwhelmingly Kinh, with Khmer, Hoa and Chăm communities.
ETHNIC_GROUPS = [("Kinh", 97.0), ("Khmer", 1.6), ("Hoa", 1.0), ("Chăm", 0.4)]
