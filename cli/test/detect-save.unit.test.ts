// Pieces of `detect --save` and of the progress bars of detect and evaluate.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { outputPaths } from '../src/lib/draw.js';
import { CountProgress, progressWanted } from '../src/lib/progress.js';

describe('outputPaths', () => {
  it('when images share a name, then later ones get -2, -3 and each keeps its extension', () => {
    const paths = outputPaths(['a/frame.jpg', 'b/frame.jpg', 'c/Frame.png', 'shot.webp'], 'out');
    expect(paths).toEqual([
      { image: path.join('out', 'frame.jpg'), json: path.join('out', 'frame.json') },
      { image: path.join('out', 'frame-2.jpg'), json: path.join('out', 'frame-2.json') },
      { image: path.join('out', 'Frame-3.png'), json: path.join('out', 'Frame-3.json') },
      { image: path.join('out', 'shot.webp'), json: path.join('out', 'shot.json') },
    ]);
  });
});

describe('progress', () => {
  it('when stderr is a terminal and the output is not JSON, then a bar is wanted; otherwise not', () => {
    expect(progressWanted(false, { isTTY: true })).toBe(true);
    expect(progressWanted(true, { isTTY: true })).toBe(false);
    expect(progressWanted(false, { isTTY: false })).toBe(false);
    expect(progressWanted(false, {})).toBe(false);
  });

  it('when enabled, then it draws done/total and erases itself to let a line through; when disabled, it writes nothing', () => {
    const written: string[] = [];
    const stream = { write: (text: string) => written.push(text) > 0 };
    const bar = new CountProgress('Evaluating', 4, true, stream);
    bar.update(2);
    expect(written.at(-1)).toBe(`\r${bar.render(2)}`);
    expect(bar.render(2)).toMatch(/^Evaluating █{14}░{14}  50% 2\/4$/);
    bar.around(() => written.push('LINE'));
    expect(written.slice(-3)).toEqual(['\r\x1b[K', 'LINE', `\r${bar.render(2)}`]);
    bar.update(4);
    bar.finish();
    expect(written.at(-1)).toBe('\r\x1b[K');

    const quiet: string[] = [];
    const off = new CountProgress('Evaluating', 4, false, { write: (text: string) => quiet.push(text) > 0 });
    off.update(1);
    off.around(() => undefined);
    off.finish();
    expect(quiet).toEqual([]);
  });
});
