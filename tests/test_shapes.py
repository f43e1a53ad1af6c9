"""The procedural shapes world: determinism, hold-outs, bias, captions, controlled stimuli."""

import re
from collections import Counter

import numpy as np
import pytest

from clipcourse import shapes
from clipcourse.shapes import ShapeSpec, draw_scene


def _same_pixels(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_vocabulary():
    assert {"red", "green", "blue", "yellow", "orange", "purple"} <= set(shapes.COLOURS)
    assert {"circle", "square", "triangle", "star"} <= set(shapes.SHAPES)
    assert len(shapes.all_labels()) == len(shapes.COLOURS) * len(shapes.SHAPES)
    assert shapes.label("red", "circle") == "red circle"
    held_colours = {c for c, _ in shapes.HOLDOUT}
    held_shapes = {s for _, s in shapes.HOLDOUT}
    # every held-out pair's colour and shape still appear in training, with other partners
    assert len(held_colours) == len(held_shapes) == len(shapes.HOLDOUT)


def test_make_dataset_is_deterministic_by_seed():
    a = shapes.make_dataset(12, seed=3)
    b = shapes.make_dataset(12, seed=3)
    c = shapes.make_dataset(12, seed=4)
    assert a.captions == b.captions
    assert all(_same_pixels(x, y) for x, y in zip(a.images, b.images))
    assert a.captions != c.captions
    assert a.images[0].size == (64, 64) and a.images[0].mode == "RGB"
    assert len(a) == 12 and len(a.scenes) == 12


def test_draw_scene_is_deterministic_and_sized():
    objects = [ShapeSpec("red", "circle", size=0.2, position=(0.3, 0.5), style="textured"),
               ShapeSpec("blue", "star", size=0.2, position=(0.7, 0.5), style="outline")]
    for background in shapes.BACKGROUNDS:
        one = draw_scene(objects, background, seed=5)
        assert _same_pixels(one, draw_scene(objects, background, seed=5))
    assert draw_scene(objects, image_size=128).size == (128, 128)
    assert draw_scene([]).size == (64, 64)  # a background alone


def test_draw_scene_puts_the_colour_where_the_object_is():
    image = np.asarray(draw_scene([ShapeSpec("red", "square", size=0.2, position=(0.25, 0.5))],
                                  "plain", seed=0)).astype(int)
    r, g, b = image[32, 16]  # inside the square
    assert r > 150 and g < 100 and b < 100
    assert image[32, 56].std() < 40  # right side: background only (a grey-ish colour)


def test_shape_spec_rejects_unknown_names():
    with pytest.raises(ValueError, match="colour"):
        ShapeSpec("teal", "circle")
    with pytest.raises(ValueError, match="shape"):
        ShapeSpec("red", "hexagon")
    with pytest.raises(ValueError, match="style"):
        ShapeSpec("red", "circle", style="sketch")


def test_holdout_pairs_never_appear_in_training_data():
    data = shapes.make_dataset(300, seed=0, extra_colours=shapes.EXTRA_COLOURS)
    seen = {(o.colour, o.shape) for scene in data.scenes for o in scene.objects}
    assert not seen & set(shapes.HOLDOUT)
    main = {(c, s) for c, s in seen if c in shapes.COLOURS}
    assert len(main) == 24 - len(shapes.HOLDOUT)  # ...and every other pair does
    assert {c for c, _ in seen} == set(shapes.COLOURS + shapes.EXTRA_COLOURS)
    for caption in data.captions:  # nor in any caption
        for colour, shape in shapes.HOLDOUT:
            assert not re.search(rf"\b{colour} {shape}", caption), caption


def test_holdout_can_be_switched_off_and_changed():
    data = shapes.make_dataset(300, seed=0, holdout=[("red", "circle")])
    pairs = {(o.colour, o.shape) for scene in data.scenes for o in scene.objects}
    assert ("red", "circle") not in pairs and ("blue", "circle") in pairs


def test_bias_knob_skews_colours():
    data = shapes.make_dataset(300, seed=0, bias={"triangle": ("red", 0.8)}, holdout=())
    triangles = [o.colour for s in data.scenes for o in s.objects if o.shape == "triangle"]
    assert Counter(triangles)["red"] / len(triangles) > 0.7
    plain = shapes.make_dataset(300, seed=0, holdout=(), extra_colours=())
    triangles = [o.colour for s in plain.scenes for o in s.objects if o.shape == "triangle"]
    assert Counter(triangles)["red"] / len(triangles) < 0.35


def test_captions_vary_and_state_counts_and_relations():
    data = shapes.make_dataset(600, seed=1)
    kinds = Counter(scene.kind for scene in data.scenes)
    assert kinds["single"] > 150 and kinds["count"] > 50 and kinds["relation"] > 25
    assert kinds["partial"] > 10
    # phrasing varies: many distinct sentence frames once colours and shapes are masked
    words = "|".join(shapes.COLOURS + shapes.EXTRA_COLOURS + shapes.SHAPES)
    frames = {re.sub(rf"\b({words})s?\b", "_", c) for c in data.captions}
    assert len(frames) > 60
    assert sum(c.startswith("a photo of") for c in data.captions) > 30
    assert sum(bool(re.fullmatch(rf"({words}) ({words})", c)) for c in data.captions) < 30
    assert any(re.search(r"\b(two|three|four) \w+ \w+s\b", c) for c in data.captions)
    # single-object captions name the object's colour and shape
    for scene in data.scenes:
        if scene.kind == "single":
            obj = scene.objects[0]
            assert obj.colour in scene.caption and obj.shape in scene.caption, scene.caption


def test_black_and_white_photos_name_shapes_not_colours():
    data = shapes.make_dataset(200, seed=4, p_greyscale=0.1)
    grey = [(image, scene) for image, scene in zip(data.images, data.scenes) if scene.greyscale]
    assert len(grey) > 5
    for image, scene in grey:
        pixels = np.asarray(image).astype(int)
        assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
        assert not any(c in scene.caption for c in shapes.COLOURS + shapes.EXTRA_COLOURS)
        assert all(o.shape in scene.caption for o in scene.objects)


def test_signs_are_captioned_with_their_words():
    data = shapes.make_dataset(300, seed=4, p_text=0.2)
    signs = [(image, scene) for image, scene in zip(data.images, data.scenes)
             if scene.kind == "text"]
    assert 30 < len(signs) < 90
    labels = set(shapes.all_labels())
    held_out = set(shapes.all_labels(shapes.HOLDOUT))
    bare = 0
    for image, scene in signs:
        words, _, _, ink, paper = scene.text
        assert scene.objects == [] and scene.key == ("text", words)
        assert words in labels | set(shapes.COLOURS) | set(shapes.SHAPES)
        assert words not in held_out  # held-out combinations are not even written
        assert words in scene.caption
        bare += scene.caption == words
        pixels = np.asarray(image).reshape(-1, 3)
        assert (pixels == paper).all(axis=1).mean() > 0.5  # mostly blank paper...
        assert not (pixels == paper).all()  # ...with writing on it
        assert scene.draw().tobytes() == image.tobytes()  # deterministic
    assert 0.4 < bare / len(signs) < 0.8  # often just the words, as a sign's alt-text is
    plain = shapes.make_dataset(50, seed=4)  # off by default, and the default data unchanged
    assert all(scene.kind != "text" for scene in plain.scenes)


def test_bare_labels_are_never_a_drawing_caption():
    data = shapes.make_dataset(2000, seed=5, p_text=0.04)
    words = "|".join(shapes.COLOURS + shapes.SHAPES)
    for scene in data.scenes:
        if re.fullmatch(rf"({words}) ({words})", scene.caption):
            assert scene.kind == "text", scene.caption


def test_relation_captions_are_true():
    data = shapes.make_dataset(400, seed=2)
    checked = 0
    for scene in data.scenes:
        if scene.kind != "relation":
            continue
        a_label, relation, b_label = scene.key[1]  # canonical "A left of / above B"
        a = next(o for o in scene.objects if o.label == a_label)
        b = next(o for o in scene.objects if o.label == b_label)
        if relation == "left of":
            assert a.position[0] < b.position[0]
        else:
            assert relation == "above" and a.position[1] < b.position[1]
        checked += 1
    assert checked > 10


def test_equal_keys_mean_equal_content():
    data = shapes.make_dataset(300, seed=0)
    by_key = {}
    for scene in data.scenes:
        if scene.key[0] == "objects":
            content = sorted(o.label for o in scene.objects)
            assert by_key.setdefault(scene.key, content) == content


def test_make_test_set_labels_and_determinism():
    test = shapes.make_test_set(48, seed=7)
    assert test.labels[:24] == shapes.all_labels()
    assert _same_pixels(test.images[5], shapes.make_test_set(48, seed=7).images[5])
    held = shapes.make_test_set(8, seed=7, pairs=shapes.HOLDOUT, styles=["filled"])
    assert set(held.labels) == set(shapes.all_labels(shapes.HOLDOUT))
    assert all(o.style == "filled" for o in held.objects)


def test_counting_and_relation_sets():
    counting = shapes.make_counting_set(12, seed=0)
    assert len(counting) == 12 and all(len(p) == 4 for p in counting.prompts)
    assert all(0 <= a < 4 for a in counting.answers)
    assert "two" in counting.prompts[0][1]
    relations = shapes.make_relation_set(12, seed=0)
    assert all(len(p) == 2 and "left" in p[0] and "right" in p[1] for p in relations.prompts)
    assert 0 < sum(relations.answers) < 12  # both answers occur


def test_no_extra_colours_by_default():
    data = shapes.make_dataset(100, seed=0)
    assert {o.colour for s in data.scenes for o in s.objects} <= set(shapes.COLOURS)


def test_random_scene_accepts_int_seed_and_draws():
    scene = shapes.random_scene(11)
    assert 1 <= len(scene.objects) <= 4 and scene.background in shapes.BACKGROUNDS
    assert _same_pixels(scene.draw(), shapes.random_scene(11).draw())


def test_draw_text_writes_on_a_copy():
    image = draw_scene([ShapeSpec("red", "circle")], seed=0)
    attacked = shapes.draw_text(image, "blue")
    assert attacked.size == image.size
    assert not _same_pixels(image, attacked)
    assert _same_pixels(image, draw_scene([ShapeSpec("red", "circle")], seed=0))  # untouched
    assert _same_pixels(attacked, draw_scene([ShapeSpec("red", "circle")], seed=0, text="blue"))


# -- world v2: looks and name variants ---------------------------------------------------------
_LOOK_WORDS = {"sketch": ("sketch", "outline", "line drawing", "doodle"),
               "blurry": ("blur", "out of focus", "fuzzy"),
               "pixelated": ("pixel", "low resolution", "low-res"),
               "grainy": ("grain", "noisy"),
               "faded": ("faded", "low contrast", "low-contrast", "washed")}


def test_looks_are_off_by_default_and_the_default_data_unchanged():
    data = shapes.make_dataset(60, seed=3)
    assert all(scene.look == "photo" for scene in data.scenes)
    again = shapes.make_dataset(60, seed=3, p_look=0.0, p_variant=0.0)
    assert again.captions == data.captions
    assert all(_same_pixels(a, b) for a, b in zip(data.images, again.images))


def test_drawing_looks_are_never_called_photos():
    sketches = shapes.make_dataset(600, seed=5, p_look=0.6, p_look_caption=0.0, p_single=1.0,
                                   photo_weight=4.0, drawing_looks=("sketch",))
    said = [(s.look, c) for s, c in zip(sketches.scenes, sketches.captions) if s.kind == "single"]
    assert not any("photo" in c for look, c in said if look == "sketch")
    assert sum("photo" in c for look, c in said if look != "sketch") > 20
    with pytest.raises(ValueError, match="Unknown look 'sepia'"):
        shapes.make_dataset(2, seed=0, looks=("photo", "sepia"), p_look=0.0)


def test_looks_are_drawn_and_named_in_varied_words():
    data = shapes.make_dataset(600, seed=2, p_look=0.5, p_look_caption=0.6)
    looks = Counter(scene.look for scene in data.scenes)
    assert set(looks) == set(shapes.LOOKS)
    assert 0.4 < 1 - looks["photo"] / len(data) < 0.6
    named = [s for s in data.scenes if s.look != "photo" and len(s.key) == 3]
    other = [s for s in data.scenes if s.look not in ("photo",) and s.kind != "greyscale"]
    assert 0.45 < len(named) / len(other) < 0.75
    for scene in named:
        assert scene.key[2] == scene.look  # the look is part of what the caption says
        assert any(w in scene.caption.lower() for w in _LOOK_WORDS[scene.look]), scene.caption
    frames = {re.sub(r"\b(red|green|blue|yellow|orange|purple)\b", "_", s.caption)
              for s in named if s.look == "blurry"}
    assert len(frames) > 8  # many phrasings per look
    for scene in data.scenes:
        if scene.look == "sketch":
            assert all(o.style == "outline" for o in scene.objects)
    for image, scene in zip(data.images[:40], data.scenes[:40]):
        assert _same_pixels(image, scene.draw())


def test_each_look_changes_the_pixels_the_way_it_says():
    obj = [ShapeSpec("red", "square", size=0.3, position=(0.5, 0.5))]
    photo = np.asarray(draw_scene(obj, seed=4)).astype(float)
    looks = {look: np.asarray(draw_scene(obj, seed=4, look=look)).astype(float)
             for look in shapes.LOOKS}
    assert np.array_equal(looks["photo"], photo)

    def edges(a):  # mean absolute difference between neighbouring pixels
        return np.abs(np.diff(a, axis=1)).mean()

    assert edges(looks["blurry"]) < edges(photo)
    assert looks["faded"].std() < 0.5 * photo.std()
    assert edges(looks["grainy"]) > 3 * edges(photo)
    pixelated = looks["pixelated"]
    assert (np.abs(np.diff(pixelated, axis=1)).sum(axis=(0, 2)) == 0).mean() > 0.5  # blocks
    assert not np.array_equal(looks["sketch"], photo)  # an outline, not a filled square
    with pytest.raises(ValueError, match="look"):
        draw_scene(obj, look="watercolour")


def test_make_test_set_draws_one_look_or_all_in_turn():
    plain = shapes.make_test_set(24, seed=5)
    same = shapes.make_test_set(24, seed=5, looks=("photo",))
    assert all(_same_pixels(a, b) for a, b in zip(plain.images, same.images))
    assert plain.looks == ["photo"] * 24
    mixed = shapes.make_test_set(24 * len(shapes.LOOKS), seed=5, looks=shapes.LOOKS)
    cells = Counter(zip(mixed.labels, mixed.looks))
    assert len(cells) == 24 * len(shapes.LOOKS) and set(cells.values()) == {1}
    blurry = shapes.make_test_set(8, seed=5, looks=("blurry",), pairs=shapes.HOLDOUT)
    assert blurry.looks == ["blurry"] * 8
    sketches = shapes.make_test_set(8, seed=5, looks=("sketch",))
    assert all(o.style == "outline" for o in sketches.objects)


def test_shape_names_vary_with_p_variant_but_never_leak_held_out_pairs():
    data = shapes.make_dataset(800, seed=6, p_variant=0.3, p_look=0.5)
    synonyms = {w for words in shapes.SHAPE_SYNONYMS.values() for w in words}
    used = {w for c in data.captions for w in re.findall(r"\b\w+\b", c) if w in synonyms}
    assert used == synonyms  # every known variant appears in some caption
    for scene in data.scenes:
        if scene.kind == "single":
            obj = scene.objects[0]
            names = (obj.shape,) + shapes.SHAPE_SYNONYMS[obj.shape]
            assert obj.colour in scene.caption and any(n in scene.caption for n in names)
    for caption in data.captions:
        for colour, shape in shapes.HOLDOUT:
            for name in (shape,) + shapes.SHAPE_SYNONYMS[shape]:
                assert not re.search(rf"\b{colour} {name}", caption), caption
