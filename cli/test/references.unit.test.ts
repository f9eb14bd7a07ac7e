import { describe, expect, it } from 'vitest';
import { parseDatasetRef } from '../src/lib/datasets/store.js';
import { baseName, checkpointProblem } from '../src/lib/models/base-weights.js';

describe('dataset references', () => {
  it('when a reference is name or name@version, then both parts are read', () => {
    expect(parseDatasetRef('valorant')).toEqual({ name: 'valorant' });
    expect(parseDatasetRef('valorant@d5687befc5d4')).toEqual({ name: 'valorant', version: 'd5687befc5d4' });
  });

  it('when a reference is malformed, then the error says what is expected', () => {
    expect(() => parseDatasetRef('Valorant')).toThrow(/is not a dataset reference: use name or name@version/);
    expect(() => parseDatasetRef('valorant@v2')).toThrow(/dataset version "v2" is not 12 hex digits/);
  });
});

describe('base weights', () => {
  it('when a file is a zip or pickle checkpoint, then it is accepted', () => {
    expect(checkpointProblem(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0]))).toBeNull();
    expect(checkpointProblem(Buffer.from([0x80, 0x02, 0x7d, 0x71]))).toBeNull();
  });

  it('when a file is anything else, then it is refused', () => {
    expect(checkpointProblem(Buffer.from('<html>404</html>'))).toMatch(/not a PyTorch checkpoint/);
    expect(checkpointProblem(Buffer.alloc(0))).toMatch(/empty/);
  });

  it('when no name is given, then the file name without .pt is the name', () => {
    expect(baseName('/downloads/yolov8l.pt')).toBe('yolov8l');
    expect(baseName('/downloads/x.pt', 'yolo11n')).toBe('yolo11n');
    expect(() => baseName('/downloads/x.pt', 'bad name')).toThrow(/base model name "bad name"/);
  });
});
