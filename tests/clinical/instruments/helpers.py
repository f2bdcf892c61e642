"""Answer-set builders shared by the instrument tests."""


def phq9(*values: int, **extra: int) -> dict[str, int]:
    assert len(values) == 9
    return {f"phq9_{n}": v for n, v in enumerate(values, start=1)} | extra


def gad7(*values: int) -> dict[str, int]:
    assert len(values) == 7
    return {f"gad7_{n}": v for n, v in enumerate(values, start=1)}


def pcl5(*values: int) -> dict[str, int]:
    assert len(values) == 20
    return {f"pcl5_{n}": v for n, v in enumerate(values, start=1)}


def pcl5_endorsing(*numbers: int, level: int = 2) -> dict[str, int]:
    """Every item 0 except the numbered ones, which are rated `level`."""
    return {f"pcl5_{n}": (level if n in numbers else 0) for n in range(1, 21)}


def cssrs(q1=0, q2=0, q3=0, q4=0, q5=0, q6=0, **recent: int) -> dict[str, int]:
    answers = {"q1": q1, "q2": q2, "q3": q3, "q4": q4, "q5": q5, "q6": q6}
    return answers | recent
