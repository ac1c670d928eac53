// Turn a DICOM SR into Cornerstone3D annotations the way OHIF does (adaptersSR.Cornerstone3D.MeasurementReport)
// and print them as JSON: usage `node read_sr.mjs SR.dcm GEOMETRY.json`, where GEOMETRY.json maps each
// referenced image's SOP Instance UID to its plane (imagePositionPatient, rowCosines, columnCosines,
// rowPixelSpacing, columnPixelSpacing, frameOfReferenceUID), as a viewer's metadata provider would give it.
import { readFileSync } from 'node:fs';
import dcmjs from 'dcmjs';
import { metaData } from '@cornerstonejs/core';
import { adaptersSR } from '@cornerstonejs/adapters';

const [srPath, geometryPath] = process.argv.slice(2);
const planes = JSON.parse(readFileSync(geometryPath, 'utf8'));
const imageId = (uid) => `pipeline:${uid}`;
metaData.addProvider((type, id) => {
  if (type !== 'imagePlaneModule' || !id.startsWith('pipeline:')) return undefined;
  return planes[id.slice('pipeline:'.length)];
}, 10000);

const buffer = readFileSync(srPath);
const dicom = dcmjs.data.DicomMessage.readFile(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
const dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dicom.dict);
dataset._meta = dcmjs.data.DicomMetaDictionary.namifyDataset(dicom.meta);
const uidToImageId = {};
for (const uid of Object.keys(planes)) uidToImageId[`${uid}:1`] = imageId(uid);

const state = adaptersSR.Cornerstone3D.MeasurementReport.generateToolState(dataset, uidToImageId, metaData);
const out = [];
for (const [toolType, measurements] of Object.entries(state)) {
  for (const m of measurements) {
    const stats = Object.values(m.annotation.data.cachedStats || {})[0] || {};
    out.push({
      toolType,
      label: m.annotation.data.label ?? null,
      trackingUid: m.TrackingUniqueIdentifier ?? null,
      referencedImageId: m.annotation.metadata.referencedImageId ?? null,
      length: stats.length ?? null,
      width: stats.width ?? null,
      points: m.annotation.data.handles?.points ?? [],
    });
  }
}
console.log(JSON.stringify(out));
