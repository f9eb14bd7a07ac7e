// The test's own reading of the synthetic dataset's labels (`class xc yc w h` rows, as
// mini_streamio.synthetic writes them) and overlap of two such boxes, to check where the served
// model's boxes land. The CLI has no TypeScript copy of these rules: `evaluate` asks Python.

export interface Box {
  classId: number;
  xc: number;
  yc: number;
  w: number;
  h: number;
}

export function boxRows(text: string): Box[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [classId, xc, yc, w, h] = line.trim().split(/\s+/).map(Number) as [
        number,
        number,
        number,
        number,
        number,
      ];
      return { classId, xc, yc, w, h };
    });
}

export function iou(a: Box, b: Box): number {
  const overlapW = Math.min(a.xc + a.w / 2, b.xc + b.w / 2) - Math.max(a.xc - a.w / 2, b.xc - b.w / 2);
  const overlapH = Math.min(a.yc + a.h / 2, b.yc + b.h / 2) - Math.max(a.yc - a.h / 2, b.yc - b.h / 2);
  if (overlapW <= 0 || overlapH <= 0) return 0;
  const intersection = overlapW * overlapH;
  return intersection / (a.w * a.h + b.w * b.h - intersection);
}
