// Pictures of detections for `detect --save`: the clone's Python draws them
// (`.stack/python -m mini_streamio.draw`, bento/src/mini_streamio/draw.py), as `train` runs it.
//
// Why Python and not a JavaScript image library: Pillow is already in the project's environment and
// reads and writes every format the service accepts (JPEG, PNG, WebP, BMP), turns images upright by
// EXIF as the service does, and has a built-in font for the labels. The pure-JS libraries lack
// WebP (jimp) or bring native binaries and need a font file for text (sharp, canvas). One Python
// process draws all images of a run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { UserError } from './command.js';
import type { Detection } from './gateway-client.js';
import { repoRoot, stackPython } from './paths.js';

export interface DrawItem {
  /** The image as sent. */
  image: string;
  /** Where the drawn copy goes (same format as `image`). */
  output: string;
  instances: Detection[];
}

export type DrawOutcome = { output: string } | { image: string; error: string };

/** Draws every item; an image that cannot be drawn is an outcome with `error`, not a failure. */
export async function drawDetections(items: DrawItem[], python = stackPython): Promise<DrawOutcome[]> {
  if (items.length === 0) return [];
  if (!fs.existsSync(python))
    throw new UserError(`${python} is missing: run \`npm run setup\` to create the Python environment`);
  const child = spawn(python, ['-m', 'mini_streamio.draw'], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  child.stdin.end(JSON.stringify({ items }));
  const outcomes: DrawOutcome[] = [];
  for await (const line of readline.createInterface({ input: child.stdout })) {
    if (line.trim()) outcomes.push(JSON.parse(line) as DrawOutcome);
  }
  const code = await exited.catch((err: Error) => {
    throw new UserError(`cannot run ${python}: ${err.message}`);
  });
  if (code !== 0 || outcomes.length !== items.length)
    throw new UserError(`drawing the detections failed (exit ${code}): ${stderr.trim() || 'no output'}`);
  return outcomes;
}

/**
 * Where `detect --save DIR` writes each image's picture and task JSON: DIR/<name><ext> and
 * DIR/<name>.json. Images of the same name from different folders get -2, -3… so none is lost.
 */
export function outputPaths(images: string[], dir: string): { image: string; json: string }[] {
  const taken = new Set<string>();
  return images.map((file) => {
    const { name, ext } = path.parse(file);
    let stem = name;
    for (let n = 2; taken.has(stem.toLowerCase()); n++) stem = `${name}-${n}`;
    taken.add(stem.toLowerCase());
    return { image: path.join(dir, `${stem}${ext}`), json: path.join(dir, `${stem}.json`) };
  });
}
