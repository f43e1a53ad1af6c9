"""Claims of 05_failure_modes_lab.ipynb: sentence -> check (tests/lesson_checks.py)."""

# the 95% interval of a ChoiceResult, as its summary() prints it
_INTERVAL = "failures._wilson(int({0}.correct.sum()), len({0}.answers))"
_AT_CHANCE = f"{_INTERVAL}[0] <= {{0}}.chance <= {_INTERVAL}[1]"
_OUTSIDERS_ANSWERED = "[np.mean(report[g]['best_cosine'] >= threshold) for g in outsiders]"
_AFTER, _BEFORE = 'tables["after"]', 'tables["before fine-tuning"]'

CLAIMS = {
    # 1. counting
    "The bundled model counts only a little better than chance": """
        result.chance < result.accuracy < result.chance + 0.35
    """,
    "one shape is mostly right, but three shapes mostly get \"four\" and two": """
        result.accuracy_by_group()[1] > 0.5
        and result.confusion()[2][3] > result.confusion()[2].sum() / 2
    """,
    # each of "two", "three", "four" takes a real share of the two-shape images, none a majority
    'shapes are spread over "two", "three" and "four"': """
        min(result.confusion()[1][1:]) >= 0.2 * result.confusion()[1].sum()
        and max(result.confusion()[1]) <= 0.5 * result.confusion()[1].sum()
    """,
    "Two against three, the course text's example, is above chance but far from reliable.": """
        result_23.chance < result_23.accuracy < 0.8
    """,
    "four in five of its training images held a single shape": "cc.train.TINY_RECIPE['p_single'] == 0.8",
    # 2. left of, right of
    "The bundled model is at chance: the interval includes 50%": _AT_CHANCE.format("result"),
    "fewer pairs than chance have both images right": "both_right.mean() < 0.25",
    "for most pairs it picks the *same* caption for a scene and its mirror image": """
        (choices[:, 0] == choices[:, 1]).mean() > 0.5
    """,
    # 3. negation
    "The model reads colour perfectly and \"not\" not at all": """
        plain.accuracy > 0.95 and negated.accuracy < 0.05
    """,
    "the accuracy with \"not\" is exactly what ignoring the word predicts": """
        abs(negated.accuracy - (1 - plain.accuracy)) < 0.03
    """,
    "it gives the false sentence almost all the probability": "1 - negated.p_true > 0.9",
    "scores in the same range as \"a red square\", far above \"a blue square\"": """
        probe_result.probs[0][1] > probe_result.probs[0][0] / 3
        and probe_result.probs[0][1] > 10 * probe_result.probs[0][3]
    """,
    # 4. abstract concepts
    "Against concrete labels the model is sure: entropy near 0 bits and a top-2 margin near 1.": """
        flat["concrete"]["entropy_bits"] < 0.3 and flat["concrete"]["top2_margin"] > 0.9
    """,
    "Against abstract labels its probabilities are much closer to flat, with a small margin": """
        flat["abstract"]["entropy_share"] > flat["concrete"]["entropy_share"] + 0.25
        and flat["abstract"]["top2_margin"] < flat["concrete"]["top2_margin"] / 2
    """,
    "yet every drawing still gets a winner (the last line counts them)": """
        sum(winners.values()) == len(drawings.images)
    """,
    # 5. text in images
    "at 64 pixels it reads the words themselves hardly better than chance": """
        model.input_resolution == 64 and reading < 3 / len(labels)
    """,
    "The label costs accuracy, more as it grows": """
        [row["accuracy"] for row in control if row["opacity"] == 1.0]
        == sorted((row["accuracy"] for row in control if row["opacity"] == 1.0), reverse=True)
        and control[-1]["accuracy"] < control[0]["accuracy"] - 0.2
    """,
    "The wrong word costs a little more than the right one at the larger labels": """
        sum(honest["accuracy"] - lie["accuracy"] for lie, honest in zip(attack, control)) > 0
        and max(honest["accuracy"] - lie["accuracy"] for lie, honest in zip(attack, control)) < 0.2
    """,
    # the loss with the right word (covering) is more than half of the whole loss
    "most of the loss is there with the right word too": """
        sum(control[0]["accuracy"] - honest["accuracy"] for honest in control)
        > sum(control[0]["accuracy"] - lie["accuracy"] for lie in attack) / 2
    """,
    "Hardly any prediction flips to the written colour": "max(lie['to_target'] for lie in attack) <= 0.05",
    # 6. biased data
    "Before the fine-tune, the model calls most triangles triangles, whatever their colour.": f"""
        min({_BEFORE}["called"]["red triangles"], {_BEFORE}["called"]["other triangles"]) > 0.5
    """,
    "red triangles are still recognised, but triangles of other colours are missed far more often": f"""
        {_AFTER}["called"]["red triangles"] > 0.9
        and {_AFTER}["called"]["other triangles"] < {_BEFORE}["called"]["other triangles"] - 0.05
    """,
    "a few red circles, squares or stars become triangles": f"""
        {_AFTER}["called"]["red non-triangles"] > {_AFTER}["called"]["other non-triangles"]
    """,
    "The overall shape accuracy drops far less than the accuracy on triangles of other colours": f"""
        ({_BEFORE}["shape_accuracy"] - {_AFTER}["shape_accuracy"])
        < ({_BEFORE}["called"]["other triangles"] - {_AFTER}["called"]["other triangles"]) / 2
    """,
    # 7. no "I don't know"
    "The drawings get a confident answer (a top probability of 50% or more) almost every time": """
        report["shapes"]["confident"] > 0.9
    """,
    "most of the photos, and about half of the empty backgrounds and digits": """
        report["photos"]["confident"] > 0.5
        and all(0.3 <= report[g]["confident"] <= 0.7 for g in ("empty", "digits"))
    """,
    "Uniform noise is the least confident outsider: hardly any of its answers reaches 50%": """
        report["noise"]["confident"] == min(report[g]["confident"] for g in outsiders)
        and report["noise"]["confident"] < 0.1
    """,
    "its distributions are far flatter than the drawings'": """
        report["noise"]["entropy_share"] > 2 * report["shapes"]["entropy_share"]
    """,
    "Still, every one of them gets one of the 24 labels.": """
        len(labels) == 24 and all(p in labels for row in report.values() for p in row["predictions"])
    """,
    "at the threshold that keeps 95% of the right answers, almost every input": """
        0.94 <= np.mean(matched >= threshold) <= 0.97
    """,
    "almost every input from outside its world becomes \"I don't know\"": """
        np.mean(np.concatenate([report[g]["best_cosine"] for g in outsiders]) >= threshold) < 0.05
    """,
    "the photos nearly all included": "np.mean(report['photos']['best_cosine'] >= threshold) <= 0.25",
    "Coverage falls to about the drawings' share of the inputs": """
        abs(stats["coverage"] - len(in_world.images) / len(scores)) < 0.1
    """,
    "nearly all the answers left are right": "stats['precision'] > 0.9",
    "The way out costs nothing on the drawings here.": """
        abstained["shapes"]["abstained"] == 0
        and abstained["shapes"]["accuracy_with"] >= abstained["shapes"]["accuracy_without"]
    """,
    "It catches almost all of the noise": 'abstained["noise"]["abstained"] > 0.85',
    "but only part of the other outsiders (none of the empty backgrounds), fewer than the "
    "threshold did": f"""
        all(abstained[g]["abstained"] < 1 for g in outsiders if g != "noise")
        and abstained["empty"]["abstained"] == 0
        and sum(abstained[g]["abstained"] for g in outsiders)
            < sum(1 - a for a in {_OUTSIDERS_ANSWERED})
    """,
    # summary
    "Counting barely works (one shape yes; two and three mostly not)": {"check": """
        result.accuracy < 0.6 and result.accuracy_by_group()[1] > 0.5
        and result.accuracy_by_group()[2] < 0.5 and result.accuracy_by_group()[3] < 0.5
    """, "after": "3d4075e2"},
    "left/right by word order and negation fail completely": """
        results["left/right by word order"][0] < 0.6
        and results["left/right, scene and mirror both right"][0] < 0.25
        and results["colour, sentences with 'not'"][0] < 0.05
    """,
    "reads them hardly better than chance, so a written word hardly ever fools it, though "
    "covering the object costs accuracy": """
        reading < 3 / len(labels) and max(lie["to_target"] for lie in attack) <= 0.05
        and control[-1]["accuracy"] < control[0]["accuracy"] - 0.2
    """,
    "became a disparity between groups after 30 steps of fine-tuning, much larger than the drop "
    "in overall accuracy": f"""
        ({_AFTER}["called"]["red triangles"] - {_AFTER}["called"]["other triangles"])
        > 2 * ({_BEFORE}["shape_accuracy"] - {_AFTER}["shape_accuracy"])
    """,
    # exercise 2's solution
    "With the bundled model both intervals include 50%": f"""
        {_AT_CHANCE.format("by_word")} and {_AT_CHANCE.format("by_order")}
    """,
}
