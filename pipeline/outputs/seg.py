"""DICOM Segmentation (SEG) of one timepoint's target lesions, built with highdicom.

One SEG per timepoint, derived from (and referencing) the measured CT
series' instances. FRACTIONAL (the default) stores each lesion's partial-volume
fractions, so that measuring the SEG again gives the measured volume and
diameters; BINARY stores the label map (voxels with fraction >= 0.5), whose
outline can move by up to a voxel. One segment per target lesion that has voxels in the label
map, numbered 1..m in targets order (a lesion not found at that timepoint has
no segment); the segment's label and Tracking ID are the lesion id, its
Tracking UID the lesion's (see :mod:`pipeline.outputs.dicom_ids`). Frames without
lesion voxels are omitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes

from pipeline.outputs import dicom_ids

ALGORITHM_NAME = "lesion-pipeline seeded CT lesion segmentation"
_ORGAN_CODES = {"liver": codes.SCT.Liver}


def segment_numbers(labels_zyx: np.ndarray, lesion_ids: Sequence[str]) -> dict[str, int]:
    """Segment number of every lesion present in the label map (label ``k + 1`` = ``lesion_ids[k]``).

    Present lesions are numbered 1..m in ``lesion_ids`` order.
    """
    present = set(np.unique(labels_zyx).tolist()) - {0}
    ids = [lesion_id for k, lesion_id in enumerate(lesion_ids) if k + 1 in present]
    return {lesion_id: n for n, lesion_id in enumerate(ids, start=1)}


def _segment_array(labels_zyx: np.ndarray, lesion_ids: Sequence[str], numbers: Mapping[str, int]) -> np.ndarray:
    """The label map renumbered to segment numbers (label-map style input of highdicom)."""
    lut = np.zeros(len(lesion_ids) + 1, dtype=np.uint8)
    for k, lesion_id in enumerate(lesion_ids):
        lut[k + 1] = numbers.get(lesion_id, 0)
    return lut[labels_zyx]


#: a lesion's fractions: the cropped array (z, y, x) and the offset of its first voxel in the full grid
Fractions = tuple[np.ndarray, tuple[int, int, int]]


def _fraction_array(
    shape_zyx: tuple[int, ...], numbers: Mapping[str, int], fractions: Mapping[str, Fractions]
) -> tuple[np.ndarray, slice]:
    """(frames, rows, columns, segments) fractions over the slices that hold a lesion, and those slices."""
    z0 = min(fractions[i][1][0] for i in numbers)
    z1 = max(fractions[i][1][0] + fractions[i][0].shape[0] for i in numbers)
    out = np.zeros((z1 - z0, shape_zyx[1], shape_zyx[2], len(numbers)), dtype=np.float32)
    for lesion_id, number in numbers.items():
        crop, (z, y, x) = fractions[lesion_id]
        dz, dy, dx = crop.shape
        out[z - z0 : z - z0 + dz, y : y + dy, x : x + dx, number - 1] = np.clip(crop.astype(np.float32), 0.0, 1.0)
    return out, slice(z0, z1)


def _segment_descriptions(
    numbers: Mapping[str, int], organs: Mapping[str, str], tracking_uids: Mapping[str, str]
) -> list[hd.seg.SegmentDescription]:
    """One description per segment: label and Tracking ID the lesion id, its Tracking UID and organ."""
    algorithm = hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME, family=codes.cid7162.HistogramAnalysis, version=dicom_ids.SOFTWARE_VERSION
    )
    descriptions = []
    for lesion_id, number in numbers.items():
        organ = _ORGAN_CODES.get(organs.get(lesion_id, ""))
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=lesion_id,
                segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                segmented_property_type=codes.SCT.Lesion,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=tracking_uids[lesion_id],
                tracking_id=lesion_id,
                anatomic_regions=[organ] if organ is not None else None,
            )
        )
    return descriptions


def _seg_pixels(
    source_datasets: Sequence[Dataset],
    labels_zyx: np.ndarray,
    lesion_ids: Sequence[str],
    numbers: Mapping[str, int],
    fractions: Mapping[str, Fractions] | None,
) -> tuple[np.ndarray, list[Dataset], str]:
    """The SEG's pixels, the CT instances they derive from and the segmentation type (BINARY or FRACTIONAL)."""
    if fractions is None:
        pixels, sources, kind = _segment_array(labels_zyx, lesion_ids, numbers), list(source_datasets), "BINARY"
    else:
        pixels, used = _fraction_array(labels_zyx.shape, numbers, fractions)
        sources, kind = list(source_datasets[used]), "FRACTIONAL"
    return pixels, sources, kind


def _segmentation(
    source_datasets: Sequence[Dataset],
    pixels: np.ndarray,
    sources: list[Dataset],
    kind: str,
    numbers: Mapping[str, int],
    descriptions: list[hd.seg.SegmentDescription],
) -> hd.seg.Segmentation:
    """The SEG instance; its UIDs derive from the CT series and a digest of the content."""
    series_uid = str(source_datasets[0].SeriesInstanceUID)
    digest = dicom_ids.content_digest(
        [pixels.tobytes(), str(pixels.shape), kind, repr(sorted(numbers.items())), dicom_ids.SOFTWARE_VERSION]
    )
    sop_uid = dicom_ids.derived_uid("SEG", series_uid, digest)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues[kind],
        segment_descriptions=descriptions,
        series_instance_uid=dicom_ids.derived_uid("SEG series", sop_uid),
        series_number=dicom_ids.SEG_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=dicom_ids.MANUFACTURER,
        manufacturer_model_name=dicom_ids.MODEL_NAME,
        software_versions=dicom_ids.SOFTWARE_VERSION,
        device_serial_number=dicom_ids.DEVICE_SERIAL_NUMBER,
        series_description="target lesions",
        content_description="Target lesions (label = lesion id)",
        content_label="LESIONS",
        omit_empty_frames=True,
    )
    return seg


def build_seg(
    source_datasets: Sequence[Dataset],
    labels_zyx: np.ndarray,
    lesion_ids: Sequence[str],
    organs: Mapping[str, str],
    tracking_uids: Mapping[str, str],
    fractions: Mapping[str, Fractions] | None = None,
) -> tuple[hd.seg.Segmentation, dict[str, int]]:
    """The SEG of one timepoint and the segment number of each lesion in it.

    Parameters
    ----------
    source_datasets
        Headers of the CT instances, in the label map's slice order
        (``labels_zyx[k]`` is the segmentation of ``source_datasets[k]``).
    labels_zyx
        Label map on the CT grid; label ``k + 1`` marks ``lesion_ids[k]``.
    lesion_ids, organs, tracking_uids
        The targets in label order, each lesion's organ (``"liver"`` gives the
        anatomic region code) and Tracking UID.
    fractions
        Each present lesion's partial-volume fractions: a FRACTIONAL SEG of the
        slices that hold lesions; ``None``: a BINARY SEG of the label map.

    Raises
    ------
    ValueError
        If no lesion has voxels in the label map or the shapes disagree.
    """
    if labels_zyx.shape[0] != len(source_datasets):
        raise ValueError(f"label map has {labels_zyx.shape[0]} slices, the CT series {len(source_datasets)}")
    numbers = segment_numbers(labels_zyx, lesion_ids)
    if not numbers:
        raise ValueError("no lesion voxels in the label map: nothing to encode as a SEG")
    descriptions = _segment_descriptions(numbers, organs, tracking_uids)
    pixels, sources, kind = _seg_pixels(source_datasets, labels_zyx, lesion_ids, numbers, fractions)
    seg = _segmentation(source_datasets, pixels, sources, kind, numbers, descriptions)
    return seg, numbers
