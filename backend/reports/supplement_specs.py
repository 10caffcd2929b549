"""The supplement's table layouts (rows, columns) and its printed numbers (the paper's columns), as the
supplement's Tables 1-5 and Figure 1 have them; `backend.reports.supplement` assigns them to the built-in grids."""

from __future__ import annotations

from backend.reports.layouts import (
    Column,
    Pick,
    RowSpec,
    TableSpec,
    gap_cell,
    h_hat_cell,
    mean_cell,
    metric_cell,
    paired_cell,
    paired_kd_reference_cell,
    paper_cell,
    reduction_cell,
    teacher_cell,
)
from backend.vocabulary import BASELINE_METHOD as ERM
from backend.vocabulary import CUTMIX, LABEL_SMOOTHING, MIXUP, XCL_GAN, XCL_MIX
from backend.vocabulary import KD_REFERENCE_METHOD as KD

PAPER_CIFAR = "paper (CIFAR-100 ResNet-18)"

# Table 2: ensemble name -> (row label, paper Ĥ, paper teacher top-1, paper student top-1)
CIFAR_TEACHERS = {
    "resnet18-erm": ("ResNet-18", "23.4", "81.4", "80.2 ± 0.1"),
    "resnet18-ls": ("+LS ε=0.1", "44.9", "82.5", "80.9 ± 0.2"),
    "resnet18-mixup": ("+MixUp", "31.0", "83.1", "81.1 ± 0.2"),
    "resnet18-cutmix": ("+CutMix", "28.2", "84.6", "83.1 ± 0.2"),
    "pyramidnet-cutmix": ("Pyr.+CutMix", "15.1", "87.5", "83.8 ± 0.1"),
}
# The digits ablation's ensembles (named after their training method) stand in for the same rows (its larger
# architecture: a double-width CNN).
DIGITS_TEACHERS = {
    ERM: ("small CNN (paper: ResNet-18)", *CIFAR_TEACHERS["resnet18-erm"][1:]),
    LABEL_SMOOTHING: ("+LS ε=0.1", *CIFAR_TEACHERS["resnet18-ls"][1:]),
    MIXUP: ("+MixUp", *CIFAR_TEACHERS["resnet18-mixup"][1:]),
    CUTMIX: ("+CutMix", *CIFAR_TEACHERS["resnet18-cutmix"][1:]),
    "wide-cutmix": ("2× width +CutMix (paper: Pyr.+CutMix)", *CIFAR_TEACHERS["pyramidnet-cutmix"][1:]),
}
# Table 3: eps -> (paper Ĥ, paper top-1)
LS_PAPER = {0.1: ("17.0", "79.3 ± 0.3"), 0.18: ("28.2", "78.8 ± 0.2"), 0.4: ("54.5", "78.0 ± 0.3"),
            0.8: ("90.7", "78.3 ± 0.2")}  # fmt: skip
# Tables 4 and 5: T -> (paper Ĥ, paper top-1)
KD_T_PAPER = {1.0: ("10.5", "80.0 ± 0.2"), 1.5: ("52.8", "79.9 ± 0.3"), 2.0: ("81.2", "80.2 ± 0.1"),
              5.0: ("99.2", "81.2 ± 0.3"), 10.0: ("99.9", "81.1 ± 0.3")}  # fmt: skip
XCL_T_PAPER = {1.0: ("28.2", "83.1 ± 0.2"), 1.5: ("65.0", "83.0 ± 0.1"), 2.0: ("85.8", "83.1 ± 0.2"),
               5.0: ("99.2", "83.2 ± 0.2"), 10.0: ("99.9", "83.1 ± 0.1")}  # fmt: skip
# The main CIFAR-100 ResNet-18 rows the supplement gives (ERM derived: LS 0.1 is "+1.5 over the baseline").
CIFAR_R18_PAPER = {
    ERM: "77.8 (derived)",
    LABEL_SMOOTHING: "79.3 ± 0.3",
    KD: "80.0 ± 0.2 (T=1)",
    XCL_MIX: "83.1 ± 0.2",
}
# Table 1 (ImageNet, ResNet-50): method -> (val top-1, gap (red.), top-5, V2-A, V2-B, V2-C)
IMAGENET_PAPER = {
    ERM: ("77.3", "–", "93.6", "74.5", "65.6", "79.4"),
    MIXUP: ("77.8", "N/A", "93.9", "74.9", "66.4", "79.7"),
    CUTMIX: ("78.7", "–", "94.3", "75.5", "66.9", "80.2"),
    KD: ("79.2", "2.4 (–)", "94.3", "75.6", "67.3", "80.6"),
    XCL_MIX: ("80.0", "1.6 (−33 %)", "95.0", "77.2", "68.2", "81.3"),
}
V2 = [  # our variant (metric prefix), the paper's column beside it (by value: the supplement does not say which)
    ("matched-frequency", "imagenetv2_matched_frequency", "V2-B"),
    ("threshold-0.7", "imagenetv2_threshold_0.7", "V2-A"),
    ("top-images", "imagenetv2_top_images", "V2-C"),
]
CIFAR_WIDTHS = (0.25, 0.5, 0.75, 1.0)
DIGITS_WIDTHS = (0.25, 0.5, 1.0, 2.0)
METHOD_LABELS = {ERM: "ERM", LABEL_SMOOTHING: "+LS ε=0.1", MIXUP: "+MixUp", CUTMIX: "+CutMix", KD: "KD",
                 XCL_MIX: "XCL-Mix", XCL_GAN: "XCL-GAN"}  # fmt: skip


def teacher_ablation(teachers: dict[str, tuple[str, str, str, str]]) -> TableSpec:
    rows = [
        RowSpec(
            label,
            {"xcl": Pick(XCL_MIX, ensemble=name), KD: Pick(KD, ensemble=name)},
            {"h": h, "teacher": teacher, "student": student},
        )
        for name, (label, h, teacher, student) in teachers.items()
    ]
    return TableSpec(
        "table2",
        "Table 2: analysis of different teachers (each an ensemble; XCL-Mix and KD students)",
        rows,
        "teacher",
        [
            Column("Ĥ (%)", h_hat_cell("xcl")),
            Column(f"{PAPER_CIFAR} Ĥ (%)", paper_cell("h")),
            Column("teacher top-1 (%)", teacher_cell("xcl", KD)),
            Column(f"{PAPER_CIFAR} teacher top-1 (%)", paper_cell("teacher")),
            Column("XCL-Mix student top-1 (%)", mean_cell("xcl")),
            Column(f"{PAPER_CIFAR} student top-1 (%)", paper_cell("student")),
            Column("KD student top-1 (%)", mean_cell(KD)),
            Column("XCL-Mix − KD (points) [95 % CI]", paired_cell("xcl", KD)),
            Column("gap red. vs KD [95 % CI]", reduction_cell("xcl")),
        ],
        [
            "Ĥ: normalized entropy of the teacher's targets on XCL's transfer set; every gap is against the row's "
            "own ensemble."
        ],  # fmt: skip
    )


def label_smoothing() -> TableSpec:
    erm = Pick(ERM)
    rows = [RowSpec("0 (ERM)", {"row": erm, ERM: erm}, {"top1": CIFAR_R18_PAPER[ERM]})]
    rows += [
        RowSpec(
            f"{eps:g}", {"row": Pick(LABEL_SMOOTHING, {"epsilon": eps}), ERM: erm}, {"h": h, "top1": top1}
        )
        for eps, (h, top1) in LS_PAPER.items()
    ]
    return TableSpec(
        "table3",
        "Table 3: effect of label smoothing on ERM",
        rows,
        "ε",
        [
            Column("Ĥ (%)", h_hat_cell("row")),
            Column(f"{PAPER_CIFAR} Ĥ (%)", paper_cell("h")),
            Column("top-1 (%)", mean_cell("row")),
            Column(f"{PAPER_CIFAR} top-1 (%)", paper_cell("top1")),
            Column("− ERM (points) [95 % CI]", paired_cell("row", ERM)),
        ],
        ["The paper's ERM number is derived (App. E: ε = 0.1 is '+1.5 % over the baseline')."],
    )


def kd_temperature() -> TableSpec:
    t1 = Pick(KD, {"temperature": 1.0})
    rows = [
        RowSpec(f"{t:g}", {"row": Pick(KD, {"temperature": t}), "t1": t1}, {"h": h, "top1": top1})
        for t, (h, top1) in KD_T_PAPER.items()
    ]
    return TableSpec(
        "table4",
        "Table 4: effect of temperature on KD",
        rows,
        "T",
        [
            Column("Ĥ (%)", h_hat_cell("row")),
            Column(f"{PAPER_CIFAR} Ĥ (%)", paper_cell("h")),
            Column("top-1 (%)", mean_cell("row")),
            Column(f"{PAPER_CIFAR} top-1 (%)", paper_cell("top1")),
            Column("− KD T=1 (points) [95 % CI]", paired_cell("row", "t1")),
        ],
    )


def xcl_temperature() -> TableSpec:
    rows = [
        RowSpec(
            f"{t:g}",
            {"row": Pick(XCL_MIX, {"temperature": t}), KD: Pick(KD, {"temperature": t})},
            {"h": h, "top1": top1},
        )
        for t, (h, top1) in XCL_T_PAPER.items()
    ]
    return TableSpec(
        "table5",
        "Table 5: effect of temperature on XCL",
        rows,
        "T",
        [
            Column("Ĥ (%)", h_hat_cell("row")),
            Column(f"{PAPER_CIFAR} Ĥ (%)", paper_cell("h")),
            Column("top-1 (%)", mean_cell("row")),
            Column(f"{PAPER_CIFAR} top-1 (%)", paper_cell("top1")),
            Column("− KD same T (points) [95 % CI]", paired_cell("row", KD)),
            Column("− KD reference (points) [95 % CI]", paired_kd_reference_cell("row")),
            Column("gap red. vs KD reference [95 % CI]", reduction_cell("row")),
        ],
        ["Paper: against the best-temperature KD (T = 5, 81.2) XCL reduces the gap by 59 % (teacher 84.6)."],
    )


def student_size(widths: tuple[float, ...], binary: bool) -> TableSpec:
    methods = [ERM, MIXUP, KD, XCL_MIX]
    rows = [RowSpec(f"×{w:g}", {m: Pick(m, width=w, binary=binary) for m in methods}) for w in widths]
    kind = "binary" if binary else "full-precision"
    return TableSpec(
        "figure1b" if binary else "figure1a",
        f"Figure 1{'b' if binary else 'a'}: test error against student size, {kind} students",
        rows,
        "width",
        [
            Column("params (M)", metric_cell(XCL_MIX, "params", 3, spread=False, scale=1e-6)),
            *(Column(f"{METHOD_LABELS[m]} error (%)", mean_cell(m, complement=True)) for m in methods),
            Column("XCL-Mix − KD top-1 (points) [95 % CI]", paired_cell(XCL_MIX, KD)),
        ],
        ["The supplement gives Figure 1 as a plot only: there are no printed numbers to set beside these."],
    )


def imagenet(model: str) -> TableSpec:
    paper = IMAGENET_PAPER if model == "resnet50" else {}
    rows = [
        RowSpec(
            METHOD_LABELS[m],
            {"row": Pick(m, model=model)},
            dict(zip(["top1", "gap", "top5", "V2-A", "V2-B", "V2-C"], paper.get(m, ()), strict=False)),
        )
        for m in IMAGENET_PAPER
    ]
    columns = [
        Column("val top-1 (%)", mean_cell("row")),
        Column("paper val top-1", paper_cell("top1")),
        Column("val top-1 gap [95 % CI] (red. vs KD)", gap_cell("row")),
        Column("paper gap", paper_cell("gap")),
        Column("val top-5 (%)", metric_cell("row", "test_top5")),
        Column("paper top-5", paper_cell("top5")),
    ]
    for variant, prefix, letter in V2:
        columns += [
            Column(f"V2 {variant} top-1", metric_cell("row", f"{prefix}_top1")),
            Column(f"paper {letter}", paper_cell(letter)),
        ]
    name = {"resnet50": "ResNet-50", "resnet101": "ResNet-101"}[model]
    title = (
        f"Table 1: ImageNet, {name} students, with ImageNetV2"
        if paper
        else (f"ImageNet, {name} students, with ImageNetV2 (not in the supplement: no paper numbers)")
    )
    return TableSpec(
        f"table1-{model}",
        title,
        rows,
        "method",
        columns,
        ["Paper teacher: ResNet-152-D with CutMix (81.6 %); the grid's teacher is a ResNet-101 CutMix ensemble. "
         "The supplement does not say which ImageNetV2 variant V2-A/B/C is; by value V2-B is set beside "
         "matched-frequency, V2-A beside threshold-0.7, V2-C beside top-images (derived, not stated)."],
    )  # fmt: skip


def methods_table(title: str, paper: dict[str, str]) -> TableSpec:
    rows = [
        RowSpec(label, {"row": Pick(m), ERM: Pick(ERM)}, {"top1": paper.get(m, "–")})
        for m, label in METHOD_LABELS.items()
    ]
    return TableSpec(
        "methods",
        title,
        rows,
        "method",
        [
            Column("top-1 (%)", mean_cell("row")),
            Column(f"{PAPER_CIFAR} top-1 (%)", paper_cell("top1")),
            Column("gap [95 % CI] (red. vs KD)", gap_cell("row")),
            Column("− ERM (points) [95 % CI]", paired_cell("row", ERM)),
            Column("Ĥ (%)", h_hat_cell("row")),
        ],
        [
            "Paper numbers: only the ResNet-18 rows the supplement gives (main-paper tables were not available)."
        ],
    )
