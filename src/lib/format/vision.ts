/**
 * ml-format's image tasks (detection, segmentation): the hook formatPrediction calls for them, so
 * format.ts stays as it is for the other tasks.
 */
import { EdgeMlError } from '../errors';
import { asGeometry, type ImageGeometry } from '../image/geometry';
import { detect, type Detection, type DetectionOptions } from './detection';
import { maskPng, segment, type SegmentationResult } from './segmentation';
import type { TensorLike, TensorMap } from './tensor';

export interface VisionFields {
  detections?: Detection[];
  counts?: Record<string, number>;
  areas?: Record<string, number>;
}

/** PNG masks by payload: Buffers stay off the JSON payload; the node puts them on msg.mask. */
export const segmentationMasks = new WeakMap<object, Buffer>();
/** The class maps by payload, for the annotated image (weak: gone with the payload). */
export const segmentationResults = new WeakMap<object, SegmentationResult>();

/** msg.imageGeometry (one object or one per batch row) -> a list; unusable entries are undefined. */
export function geometryList(v: unknown): Array<ImageGeometry | undefined> {
  if (Array.isArray(v)) return v.map(asGeometry);
  return v === undefined || v === null ? [] : [asGeometry(v)];
}

export function formatVision<P extends VisionFields>(
  task: 'detection' | 'segmentation',
  tensors: TensorMap,
  o: { detection: DetectionOptions; labels: string[] | undefined; segmentationOutput?: string | undefined; segmentationMask?: boolean | undefined; segmentationThreshold?: number | undefined },
  geometry: unknown,
  base: () => P,
): P[] {
  const geo = geometryList(geometry);
  if (task === 'detection') {
    return detect(tensors, o.detection, geo, o.labels).map((r) => {
      const p = base();
      p.detections = r.detections;
      p.counts = r.counts;
      return p;
    });
  }
  const name = o.segmentationOutput ?? Object.keys(tensors).find((n) => (tensors[n] as TensorLike).dims.length >= 3);
  if (!name || !tensors[name]) {
    throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', `no output for the segmentation (${name ?? 'a [batch, classes, height, width] tensor'})`, {
      output: name ?? 'segmentation',
      role: 'segmentation',
      available: Object.keys(tensors).join(', '),
    });
  }
  return segment(name, tensors[name] as TensorLike, geo, o.labels, o.segmentationThreshold).map((r) => {
    const p = base();
    p.areas = r.areas;
    segmentationResults.set(p, r);
    if (o.segmentationMask) segmentationMasks.set(p, maskPng(r));
    return p;
  });
}
