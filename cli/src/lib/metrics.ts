// Detection metrics, computed the COCO way:
//   - matching: per image and class, detections in descending confidence each take the
//     unmatched ground-truth box of highest IoU, if that IoU reaches the threshold;
//   - AP: area under the precision envelope sampled at 101 recall points (0, 0.01, …, 1);
//   - mAP50 = mean AP at IoU 0.50; mAP50-95 = mean AP over IoU 0.50, 0.55, …, 0.95;
//     means are over the classes that have ground truth.
// On the same detections this equals pycocotools' COCOeval (bbox, area "all") to rounding
// (cli/test/metrics-coco.unit.test.ts), except that every detection counts: COCOeval keeps the
// 100 most confident per image and class (maxDets), the service's max_det decides here.
// Precision and recall are reported, as Ultralytics does, at the confidence threshold that
// maximises the class-mean F1 at IoU 0.50 (Ultralytics smooths that curve first; we do not).
// Why in TypeScript, beside Python's box-by-box diagnosis (analysis/evaluation.py), rather than
// spawning Python: evaluate stays one process that needs no Python environment, and starts scoring
// at once. The matching rule is one function per language (matchBoxes, greedy_matches), and
// contracts/dataset-rules.cases.json fails whichever side drifts; pycocotools pins the rest.

/** A box in YOLO-normalised centre form. */
export interface Box {
  classId: number;
  xc: number;
  yc: number;
  w: number;
  h: number;
}

export interface Prediction extends Box {
  confidence: number;
}

export interface ImageResult {
  groundTruth: Box[];
  predictions: Prediction[];
}

export interface ClassMetrics {
  classId: number;
  /** Images with at least one ground-truth box of this class. */
  images: number;
  instances: number;
  precision: number;
  recall: number;
  mAP50: number;
  mAP50_95: number;
}

export interface EvaluationMetrics {
  images: number;
  instances: number;
  precision: number;
  recall: number;
  mAP50: number;
  mAP50_95: number;
  /** The confidence at which precision and recall are reported. */
  confidence: number;
  classes: ClassMetrics[];
}

export const IOU_THRESHOLDS: readonly number[] = Array.from({ length: 10 }, (_, i) => 0.5 + 0.05 * i);
// As pycocotools' np.linspace(0, 1, 101): i * 0.01, which for ten points is one ulp above i / 100
// (35 * 0.01 = 0.35000000000000003), so a recall of exactly 35/100 does not reach that point.
const RECALL_POINTS: readonly number[] = Array.from({ length: 101 }, (_, i) => (i === 100 ? 1 : i * 0.01));

export function iou(a: Box, b: Box): number {
  const overlapW = Math.min(a.xc + a.w / 2, b.xc + b.w / 2) - Math.max(a.xc - a.w / 2, b.xc - b.w / 2);
  const overlapH = Math.min(a.yc + a.h / 2, b.yc + b.h / 2) - Math.max(a.yc - a.h / 2, b.yc - b.h / 2);
  if (overlapW <= 0 || overlapH <= 0) return 0;
  const intersection = overlapW * overlapH;
  return intersection / (a.w * a.h + b.w * b.h - intersection);
}

/** One detection of a class, with whether it matched a ground-truth box at each IoU threshold. */
interface ScoredDetection {
  confidence: number;
  truePositive: boolean[];
}

export function evaluateDetections(results: ImageResult[]): EvaluationMetrics {
  const classIds = [...new Set(results.flatMap((r) => r.groundTruth.map((b) => b.classId)))].sort(
    (a, b) => a - b,
  );
  const perClass = classIds.map((classId) => {
    const detections = results.flatMap((r) =>
      matchImage(
        r.groundTruth.filter((b) => b.classId === classId),
        r.predictions.filter((p) => p.classId === classId),
      ),
    );
    // Stable sort: ties keep image order, as COCO's mergesort does.
    detections.sort((a, b) => b.confidence - a.confidence);
    const instances = results.reduce(
      (n, r) => n + r.groundTruth.filter((b) => b.classId === classId).length,
      0,
    );
    const images = results.filter((r) => r.groundTruth.some((b) => b.classId === classId)).length;
    const ap = IOU_THRESHOLDS.map((_, t) =>
      averagePrecision(
        detections.map((d) => d.truePositive[t] as boolean),
        instances,
      ),
    );
    return { classId, images, instances, ap, detections };
  });

  const confidence = bestF1Confidence(perClass);
  const classes: ClassMetrics[] = perClass.map((c) => {
    const { precision, recall } = precisionRecallAt(c.detections, c.instances, confidence);
    return {
      classId: c.classId,
      images: c.images,
      instances: c.instances,
      precision,
      recall,
      mAP50: c.ap[0] as number,
      mAP50_95: mean(c.ap),
    };
  });
  return {
    images: results.length,
    instances: classes.reduce((n, c) => n + c.instances, 0),
    precision: mean(classes.map((c) => c.precision)),
    recall: mean(classes.map((c) => c.recall)),
    mAP50: mean(classes.map((c) => c.mAP50)),
    mAP50_95: mean(classes.map((c) => c.mAP50_95)),
    confidence,
    classes,
  };
}

/** COCO greedy matching of one class in one image, at every IoU threshold. */
function matchImage(truth: Box[], predictions: Prediction[]): ScoredDetection[] {
  const ordered = byConfidence(predictions);
  const overlaps = ordered.map((p) => truth.map((g) => iou(p, g)));
  const matches = IOU_THRESHOLDS.map((threshold) => greedyMatch(overlaps, threshold));
  return ordered.map((p, d) => ({
    confidence: p.confidence,
    truePositive: matches.map((taken) => (taken[d] as number) >= 0),
  }));
}

/**
 * The matching rule, for any mix of classes: the ground-truth box (index into `truth`) each
 * prediction takes, in the predictions' order, or null. Python's notebook analysis
 * (bento/src/mini_streamio/analysis/evaluation.py) matches box by box with the same rule; both are
 * tested against contracts/dataset-rules.cases.json.
 */
export function matchBoxes(truth: Box[], predictions: Prediction[], threshold: number): (number | null)[] {
  const order = byConfidence(predictions.map((p, index) => ({ ...p, index })));
  // A box of another class is never a candidate: its overlap counts as below any threshold.
  const overlaps = order.map((p) => truth.map((g) => (g.classId === p.classId ? iou(p, g) : -1)));
  const matched: (number | null)[] = predictions.map(() => null);
  greedyMatch(overlaps, threshold).forEach((g, d) => {
    if (g >= 0) matched[(order[d] as { index: number }).index] = g;
  });
  return matched;
}

/** Most confident first (a stable sort: equal confidences keep their order, as COCO's mergesort). */
function byConfidence<P extends Prediction>(predictions: P[]): P[] {
  return [...predictions].sort((a, b) => b.confidence - a.confidence);
}

/**
 * COCO's greedy rule on overlaps[prediction][truth], predictions most confident first: each takes
 * the free ground-truth box it overlaps most if that IoU reaches the threshold; among equal
 * overlaps the later box wins (pycocotools compares with >=). Returns the box index or -1.
 */
function greedyMatch(overlaps: number[][], threshold: number): number[] {
  const taken = new Set<number>();
  return overlaps.map((row) => {
    let best = -1;
    let bestIou = Math.min(threshold, 1 - 1e-10);
    row.forEach((overlap, g) => {
      if (!taken.has(g) && overlap >= bestIou) {
        bestIou = overlap;
        best = g;
      }
    });
    if (best >= 0) taken.add(best);
    return best;
  });
}

/** 101-point interpolated AP of detections already in descending confidence. */
export function averagePrecision(truePositive: boolean[], positives: number): number {
  if (positives === 0) return 0;
  const precision: number[] = [];
  const recall: number[] = [];
  let tp = 0;
  truePositive.forEach((hit, i) => {
    if (hit) tp += 1;
    precision.push(tp / (i + 1));
    recall.push(tp / positives);
  });
  // The precision envelope: the best precision at this recall or any higher one.
  for (let i = precision.length - 2; i >= 0; i--)
    precision[i] = Math.max(precision[i] as number, precision[i + 1] as number);
  let sum = 0;
  for (const r of RECALL_POINTS) {
    const index = recall.findIndex((value) => value >= r);
    if (index >= 0) sum += precision[index] as number;
  }
  return sum / RECALL_POINTS.length;
}

interface ClassDetections {
  instances: number;
  /** In descending confidence. */
  detections: ScoredDetection[];
}

/** Precision and recall at IoU 0.50 counting only detections with confidence ≥ threshold. */
function precisionRecallAt(
  detections: ScoredDetection[],
  instances: number,
  threshold: number,
): { precision: number; recall: number } {
  let tp = 0;
  let kept = 0;
  for (const d of detections) {
    if (d.confidence < threshold) break;
    kept += 1;
    if (d.truePositive[0]) tp += 1;
  }
  return { precision: kept ? tp / kept : 0, recall: instances ? tp / instances : 0 };
}

/** The candidate confidence (one of the detections') with the highest class-mean F1 at IoU 0.50. */
function bestF1Confidence(classes: ClassDetections[]): number {
  // One sweep per class over its detections gives F1 at each of its own confidences; between
  // them F1 is constant, so each class's F1 at any candidate is a lookup.
  const curves = classes.map((c) => {
    const points: { confidence: number; f1: number }[] = [];
    let tp = 0;
    c.detections.forEach((d, i) => {
      if (d.truePositive[0]) tp += 1;
      const precision = tp / (i + 1);
      const recall = c.instances ? tp / c.instances : 0;
      const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
      const last = points.at(-1);
      // Equal confidences are kept or dropped together: only the last of a run counts.
      if (last && last.confidence === d.confidence) last.f1 = f1;
      else points.push({ confidence: d.confidence, f1 });
    });
    return points;
  });
  const f1At = (points: { confidence: number; f1: number }[], threshold: number) => {
    // The last point with confidence ≥ threshold (points are in descending confidence).
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((points[mid] as { confidence: number }).confidence >= threshold) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : (points[lo - 1] as { f1: number }).f1;
  };
  const candidates = [...new Set(curves.flatMap((points) => points.map((p) => p.confidence)))];
  let best = { confidence: 0, f1: -1 };
  for (const confidence of candidates) {
    const f1 = mean(curves.map((points) => f1At(points, confidence)));
    if (f1 > best.f1 || (f1 === best.f1 && confidence > best.confidence)) best = { confidence, f1 };
  }
  return best.confidence;
}

function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
}
