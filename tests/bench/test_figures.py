"""How the benchmarks print a figure against its target."""

from bench.figures import Figure, render


def test_a_ratio_just_past_a_small_target_reads_as_past_it():
    figure = Figure("incremental run", 0.812, "s", baseline=15.253, baseline_name="the full run", target_ratio=0.05)
    line = render(figure)
    assert "ratio 0.0532x vs the full run" in line
    assert line.endswith("target <= 0.05x: MISSED")


def test_ratios_above_one_keep_two_decimals():
    figure = Figure("ingest", 21.142, "s", baseline=11.963, baseline_name="read_json", target_ratio=2.0)
    assert "ratio 1.77x vs read_json (11.963 s)  target <= 2.0x: MET" in render(figure)
