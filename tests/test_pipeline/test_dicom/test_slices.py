"""Slice geometry: sorting along the normal and refusing stacks that are not one regular volume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipeline.dicom.discover import InstanceHeader
from pipeline.dicom.slices import sort_slices
from pipeline.errors import GeometryError


def instance(k: int, position, orientation=(1, 0, 0, 0, 1, 0), **changes) -> InstanceHeader:
    base = InstanceHeader(
        path=Path(f"f{k}"),
        sop_instance_uid=f"1.2.{k}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        patient_id="P",
        study_uid="1.1",
        series_uid="1.1.1",
        modality="CT",
        series_number=1,
        series_description="",
        study_date="20260101",
        study_time="",
        frame_of_reference_uid="1.9",
        image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
        position=tuple(float(v) for v in position),
        orientation=tuple(float(v) for v in orientation),
        pixel_spacing=(0.8, 0.7),
        slice_thickness=2.0,
        rows=4,
        columns=5,
        instance_number=k,
        number_of_frames=1,
        rescale_slope=1.0,
        rescale_intercept=-1024.0,
        convolution_kernel="",
    )
    return dataclasses.replace(base, **changes)


def stack(zs, **kw):
    return [instance(k, (-10.0, 20.0, z), **kw) for k, z in enumerate(zs)]


def test_sorted_by_position_not_by_order_or_number():
    rng = np.random.default_rng(0)
    zs = list(rng.permutation([2.0 * k for k in range(12)]))
    s = sort_slices(stack(zs))
    assert [i.position[2] for i in s.instances] == sorted(zs)
    assert s.spacing_xyz_mm == (0.7, 0.8, 2.0)
    assert s.origin_lps_mm == (-10.0, 20.0, 0.0)
    assert s.shape_zyx == (12, 4, 5)


def test_feet_first_orientation_normal():
    # rows along -x, columns along +y: normal = row x col = -z; the stack sorts along -z
    orientation = (-1, 0, 0, 0, 1, 0)
    s = sort_slices([instance(k, (0.0, 0.0, z), orientation) for k, z in enumerate([0.0, 3.0, 6.0, 9.0])])
    assert [i.position[2] for i in s.instances] == [9.0, 6.0, 3.0, 0.0]
    np.testing.assert_allclose(np.array(s.direction).reshape(3, 3)[:, 2], [0, 0, -1])


@pytest.mark.parametrize(
    "zs, fragment",
    [
        ([0.0, 2.0, 2.0, 4.0], "2 slices at 2.00 mm along the normal \\(files f1, f2\\)"),
        ([0.0, 2.0, 4.0, 8.0, 10.0], "1 missing slice"),
        ([0.0, 2.0, 4.0, 5.0, 7.0], "non-uniform slice spacing"),
    ],
)
def test_refused_stacks(zs, fragment):
    with pytest.raises(GeometryError, match=fragment):
        sort_slices(stack(zs))


def test_gantry_tilt_is_refused():
    slices = [instance(k, (0.0, 0.5 * k, 2.0 * k)) for k in range(5)]
    with pytest.raises(GeometryError, match="gantry tilt"):
        sort_slices(slices)


def test_mixed_orientation_and_sizes_are_refused():
    slices = stack([0.0, 2.0, 4.0])
    with pytest.raises(GeometryError, match="different orientations"):
        sort_slices(slices[:2] + [dataclasses.replace(slices[2], orientation=(1.0, 0.0, 0.0, 0.0, 0.98, 0.2))])
    with pytest.raises(GeometryError, match="different or missing sizes"):
        sort_slices(slices[:2] + [dataclasses.replace(slices[2], rows=8)])
    with pytest.raises(GeometryError, match="without ImagePositionPatient"):
        sort_slices(slices[:2] + [dataclasses.replace(slices[2], position=None)])


def test_missing_pixel_spacing_names_a_file():
    """Every slice without PixelSpacing: the message still names one (it used to say "e.g. file " and stop)."""
    with pytest.raises(GeometryError, match=r"missing PixelSpacing \(None x3; e.g. file f0 and 2 more\)"):
        sort_slices(stack([0.0, 2.0, 4.0], pixel_spacing=None))


def test_a_few_images_of_another_orientation_are_split_off():
    from pipeline.dicom.series_kind import AXIAL_COSINE
    from pipeline.dicom.slices import split_orientations

    axial = stack([2.0 * k for k in range(10)])
    coronal = instance(99, (0.0, 5.0, 0.0), orientation=(1, 0, 0, 0, 0, -1))
    kept, other = split_orientations([*axial[:4], coronal, *axial[4:]], AXIAL_COSINE)
    assert kept == axial and other == [coronal]
    many = axial[:6] + [dataclasses.replace(coronal, path=Path(f"c{k}")) for k in range(4)]
    assert split_orientations(many, AXIAL_COSINE) == (many, [])  # 40 %: not "a few", refused as mixed
