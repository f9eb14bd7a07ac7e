// Hand-computed cases for the COCO-style metrics.
import { describe, expect, it } from 'vitest';
import { averagePrecision, type Box, evaluateDetections, iou, type Prediction } from '../src/lib/metrics.js';

const box = (classId: number, xc: number, yc: number, w = 0.2, h = 0.2): Box => ({ classId, xc, yc, w, h });
const pred = (b: Box, confidence: number): Prediction => ({ ...b, confidence });

describe('iou', () => {
  it('when boxes are equal, disjoint or shifted, then IoU is 1, 0 or intersection over union', () => {
    expect(iou(box(0, 0.5, 0.5), box(0, 0.5, 0.5))).toBeCloseTo(1, 12);
    expect(iou(box(0, 0.2, 0.2), box(0, 0.8, 0.8))).toBe(0);
    // 0.4×0.4 boxes shifted by 0.08: intersection 0.32×0.4 = 0.128, union 0.32 − 0.128 = 0.192.
    expect(iou(box(0, 0.5, 0.5, 0.4, 0.4), box(0, 0.58, 0.5, 0.4, 0.4))).toBeCloseTo(2 / 3, 12);
  });
});

describe('averagePrecision (101-point interpolation)', () => {
  it('when hits and misses alternate as TP FP TP FP TP over 3 positives, then AP = (34·1 + 33·2/3 + 34·0.6)/101', () => {
    // Precision 1, 1/2, 2/3, 1/2, 3/5 at recall 1/3, 1/3, 2/3, 2/3, 1; envelope 1, 2/3, 2/3, 3/5, 3/5.
    // Recall points 0…0.33 (34) take 1, 0.34…0.66 (33) take 2/3, 0.67…1 (34) take 3/5.
    expect(averagePrecision([true, false, true, false, true], 3)).toBeCloseTo((34 + 22 + 20.4) / 101, 12);
  });

  it('when every detection is a hit and all positives are found, then AP is 1', () => {
    expect(averagePrecision([true, true], 2)).toBe(1);
  });

  it('when half the positives are never found, then AP counts only recall points up to 0.5', () => {
    expect(averagePrecision([true], 2)).toBeCloseTo(51 / 101, 12);
  });

  it('when there are no detections or no positives, then AP is 0', () => {
    expect(averagePrecision([], 3)).toBe(0);
    expect(averagePrecision([false], 0)).toBe(0);
  });
});

describe('evaluateDetections', () => {
  it('when every box is predicted exactly, then P, R, mAP50 and mAP50-95 are 1', () => {
    const truth = [box(0, 0.3, 0.3), box(1, 0.7, 0.7)];
    const m = evaluateDetections([
      { groundTruth: truth, predictions: truth.map((b) => pred(b, 0.9)) },
      { groundTruth: [box(1, 0.5, 0.5)], predictions: [pred(box(1, 0.5, 0.5), 0.8)] },
    ]);
    expect(m).toMatchObject({ images: 2, instances: 3, precision: 1, recall: 1, mAP50: 1, mAP50_95: 1 });
    expect(m.classes.map((c) => [c.classId, c.images, c.instances])).toEqual([
      [0, 1, 1],
      [1, 2, 2],
    ]);
  });

  it('when the only prediction overlaps its box with IoU 2/3, then mAP50 is 1 and mAP50-95 is 4/10', () => {
    // AP is 1 at IoU thresholds 0.50, 0.55, 0.60, 0.65 and 0 at 0.70 … 0.95.
    const m = evaluateDetections([
      { groundTruth: [box(0, 0.5, 0.5, 0.4, 0.4)], predictions: [pred(box(0, 0.58, 0.5, 0.4, 0.4), 0.9)] },
    ]);
    expect(m.mAP50).toBe(1);
    expect(m.mAP50_95).toBeCloseTo(0.4, 12);
  });

  it('when predictions alternate hit and miss over 3 boxes, then mAP matches the hand-computed AP and P/R sit at the best F1', () => {
    const hit = (xc: number, confidence: number) => ({
      groundTruth: [box(0, xc, 0.5)],
      predictions: [pred(box(0, xc, 0.5), confidence)],
    });
    const miss = (confidence: number) => ({
      groundTruth: [],
      predictions: [pred(box(0, 0.1, 0.1), confidence)],
    });
    const m = evaluateDetections([hit(0.3, 0.9), miss(0.8), hit(0.5, 0.7), miss(0.6), hit(0.7, 0.5)]);
    const ap = (34 + 22 + 20.4) / 101;
    expect(m.mAP50).toBeCloseTo(ap, 12);
    expect(m.mAP50_95).toBeCloseTo(ap, 12);
    // F1 at confidence 0.9: 0.5; at 0.7: 2/3; at 0.5: 0.75 (P 3/5, R 1): the best.
    expect(m.confidence).toBe(0.5);
    expect(m.precision).toBeCloseTo(0.6, 12);
    expect(m.recall).toBe(1);
  });

  it('when two predictions hit one box, then the lower-confidence one is a false positive', () => {
    const truth = box(0, 0.5, 0.5);
    const m = evaluateDetections([
      { groundTruth: [truth], predictions: [pred(truth, 0.6), pred(truth, 0.9)] },
    ]);
    // Ranked: TP then FP; AP 1 (full recall at precision 1), P/R at best F1: confidence 0.9, P 1, R 1.
    expect(m.mAP50).toBe(1);
    expect(m.confidence).toBe(0.9);
    expect(m.precision).toBe(1);
    const atAll = evaluateDetections([
      { groundTruth: [truth], predictions: [pred(truth, 0.9), pred(box(0, 0.5, 0.5), 0.9)] },
    ]);
    expect(atAll.precision).toBe(0.5); // equal confidences are kept together
  });

  it('when a box is predicted with the wrong class, then that class gets AP 0 and the other pays a false positive', () => {
    const m = evaluateDetections([
      { groundTruth: [box(0, 0.3, 0.3)], predictions: [pred(box(0, 0.3, 0.3), 0.9)] },
      { groundTruth: [box(1, 0.6, 0.6)], predictions: [pred(box(0, 0.6, 0.6), 0.95)] },
    ]);
    // Class 0 ranks FP (0.95) then TP (0.9): precision 0, 1/2 at recall 0, 1; envelope 1/2 → AP 0.5.
    expect(m.classes.map((c) => c.mAP50)).toEqual([0.5, 0]);
    expect(m.mAP50).toBe(0.25);
  });

  it('when a class has predictions but no ground truth, then it is left out of the means (as in COCO)', () => {
    const m = evaluateDetections([
      {
        groundTruth: [box(0, 0.3, 0.3)],
        predictions: [pred(box(0, 0.3, 0.3), 0.9), pred(box(2, 0.8, 0.8), 0.95)],
      },
    ]);
    expect(m.classes.map((c) => c.classId)).toEqual([0]);
    expect(m.mAP50).toBe(1);
  });

  it('when there is no ground truth at all, then every metric is 0', () => {
    const m = evaluateDetections([{ groundTruth: [], predictions: [pred(box(0, 0.5, 0.5), 0.5)] }]);
    expect(m).toMatchObject({ instances: 0, mAP50: 0, mAP50_95: 0, precision: 0, recall: 0 });
  });
});
