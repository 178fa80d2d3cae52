import numpy as np
import pytest

from personaagent.eval.plots import (
    plot_candidates,
    plot_loss_curves,
    plot_metric_per_rung,
    plot_persona_map,
    project_2d,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUNGS = ["non-personalized", "memory only", "persona", "full (aligned)"]


def assert_png(path, min_bytes=3000):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > min_bytes


def test_metric_per_rung_writes_png(tmp_path):
    out = plot_metric_per_rung(RUNGS, [0.91, 0.84, 0.8, 0.775], tmp_path / "sub" / "mae.png",
                               metric="MAE", title="MovieLens MAE", counts=[50, 50, 50, 48])
    assert out == tmp_path / "sub" / "mae.png"
    assert_png(out)


def test_metric_per_rung_none_is_not_applicable(tmp_path):
    out = plot_metric_per_rung(RUNGS, [0.5, None, 0.625, 0.7], str(tmp_path / "acc.png"),
                               metric="accuracy", title="PrefEval")
    assert_png(out)
    # Everything missing still renders a figure.
    assert_png(plot_metric_per_rung(["a", "b"], [None, None], tmp_path / "none.png",
                                    metric="accuracy", title="nothing"))


def test_metric_per_rung_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError):
        plot_metric_per_rung(RUNGS, [0.1, 0.2], tmp_path / "x.png", metric="MAE", title="t")


def test_loss_curves(tmp_path):
    curves = {"u1": [1.0, 0.7, 0.5, 0.45], "u2": [0.9, 0.9, 0.6], "u3": [0.3]}
    assert_png(plot_loss_curves(curves, tmp_path / "loss.png", title="TextGrad loss"))
    many = {f"user{i}": [1.0 / (i + 1), 0.5 / (i + 1)] for i in range(20)}
    assert_png(plot_loss_curves(many, tmp_path / "many.png", title="many", ylabel="gap"))


def test_loss_curves_empty_still_writes(tmp_path):
    assert_png(plot_loss_curves({}, tmp_path / "empty.png", title="no runs"))


def test_project_2d_points_on_a_line():
    direction = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    direction /= np.linalg.norm(direction)
    offset = np.array([4.0, 1.0, -1.0, 2.0, 7.0])
    ts = np.array([-3.0, -1.0, 0.5, 2.0, 6.0])
    points = offset + ts[:, None] * direction
    proj = project_2d(points)
    assert proj.shape == (5, 2)
    np.testing.assert_allclose(proj[:, 1], 0.0, atol=1e-9)
    # Pairwise distances along the line are preserved on the first axis.
    first = proj[:, 0]
    np.testing.assert_allclose(np.abs(first[:, None] - first[None, :]),
                               np.abs(ts[:, None] - ts[None, :]), atol=1e-9)
    # Centred, and the largest-magnitude coordinate (t=6 is farthest from the mean) is positive.
    np.testing.assert_allclose(first, ts - ts.mean(), atol=1e-9)


def test_project_2d_separates_two_directions():
    x = np.array([[10.0, 0, 0], [-10.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
    proj = project_2d(x)
    np.testing.assert_allclose(np.abs(proj[:, 0]), [10, 10, 0, 0], atol=1e-9)
    np.testing.assert_allclose(np.abs(proj[:, 1]), [0, 0, 1, 1], atol=1e-9)


def test_project_2d_sign_is_deterministic():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 6))
    proj = project_2d(x)
    np.testing.assert_allclose(project_2d(x), proj)
    np.testing.assert_allclose(project_2d(-x), proj, atol=1e-9)
    np.testing.assert_allclose(project_2d(x[:, ::-1]), proj, atol=1e-9)
    for k in range(2):
        column = proj[:, k]
        assert column[np.argmax(np.abs(column))] > 0


def test_project_2d_small_inputs():
    one = project_2d(np.array([[1.0, 2.0, 3.0]]))
    assert one.shape == (1, 2)
    np.testing.assert_array_equal(one, np.zeros((1, 2)))
    two = project_2d([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    np.testing.assert_allclose(two, [[2.5, 0.0], [-2.5, 0.0]], atol=1e-9)
    np.testing.assert_allclose(project_2d(-np.array([[0.0, 0, 0], [3.0, 4, 0]])), two, atol=1e-9)
    assert project_2d(np.zeros((0, 4))).shape == (0, 2)
    with pytest.raises(ValueError):
        project_2d(np.zeros(3))


def test_persona_map(tmp_path):
    rng = np.random.default_rng(0)
    labels = [f"user{i}" for i in range(12)]
    vectors = rng.normal(size=(12, 16))
    attributes = ["F/18-24", "M/25-34", "F/35-44"] * 4
    assert_png(plot_persona_map(labels, vectors, attributes, tmp_path / "map.png",
                                title="Persona embeddings"))


def test_persona_map_many_attributes_and_single_user(tmp_path):
    n = 25
    vectors = np.random.default_rng(1).normal(size=(n, 4))
    assert_png(plot_persona_map([str(i) for i in range(n)], vectors, [f"occ{i}" for i in range(n)],
                                tmp_path / "many.png", title="25 occupations"))
    assert_png(plot_persona_map(["solo"], [[1.0, 2.0]], ["x"], tmp_path / "solo.png",
                                title="one user"))


def test_candidates_plot_and_alignment_summary(tmp_path):
    from personaagent.eval.alignment import alignment_summary

    pool = [{"iteration": 1, "operator": "evidence", "improvement": 0.03, "accepted": True, "batch_improvement": 0.1,
             "validation_improvement": 0.01, "change": 300},
            {"iteration": 1, "operator": "examples", "improvement": -0.02, "accepted": False, "batch_improvement": 0.05,
             "validation_improvement": -0.04, "change": 200},
            {"iteration": 2, "operator": "edit", "improvement": 0.0, "accepted": False, "batch_improvement": -0.1,
             "validation_improvement": 0.02, "change": 40}]
    curve = [{"iteration": 0, "loss": 1.0}, {"iteration": 1, "loss": 0.75}, {"iteration": 2, "loss": 0.75}]
    summary = alignment_summary([{"optimization": {"pool": pool, "accepted": 1, "stop_reason": "max_iters", "model_calls": 30,
                                                   "loss_curve": curve}},
                                 {"optimization": {"pool": [], "accepted": 0, "stop_reason": "no_failures", "model_calls": 5}}])
    assert summary == {"users_aligned": 2, "users_with_accepted_persona": 1, "candidates": 3,
                       "candidates_by_operator": {"edit": 1, "evidence": 1, "examples": 1},
                       "accepted_by_operator": {"evidence": 1}, "accepted_by_iteration": {1: 1},
                       "loss_decrease_by_iteration": {1: 0.25, 2: 0.0}, "accepted_with_validation_gain": 1,
                       "accepted_with_validation": 1, "rejected_despite_batch_gain": 1,
                       "mean_accepted_change_chars": 300, "stop_reasons": {"max_iters": 1, "no_failures": 1},
                       "model_calls": 35}
    assert_png(plot_candidates(pool, tmp_path / "c.png", title="t"))
    assert plot_candidates([], tmp_path / "e.png", title="t").exists()
