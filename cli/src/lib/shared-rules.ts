// The dataset rules the CLI asks Python for, so that each has one implementation (issue 16): which
// folders a data.yaml's splits are, what a YOLO label row is, how boxes are matched and mAP is
// computed. `python -m mini_streamio.shared_rules OP` (bento/src/mini_streamio/shared_rules.py) is
// spawned with the clone's Python, as `train` spawns the trainer (training/trainer-process.ts): one
// JSON request on stdin, one JSON answer on stdout. It imports neither torch nor Ultralytics, so a
// spawn costs about 0.1 s.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { repoRoot, stackPython } from './paths.js';

/** The entry point's exit status when the input is wrong in a way the user must fix (shared_rules.USER_ERROR). */
export const USER_ERROR_EXIT = 3;

/** A problem the user must fix, as Python words it (a label row, a missing split), or a missing Python: shown as it is. */
export class RuleInputError extends Error {}

/** One problem of a label file, by its 1-based line. */
export interface LineProblem {
  line: number;
  message: string;
}

/** `dataset push`'s row check of one label file: its problems, and the class of every good row. */
export interface LabelCheck {
  problems: LineProblem[];
  classes: number[];
}

export interface SharedRules {
  'push-layout': {
    request: { root: string; data_yaml: string };
    answer: {
      names: string[];
      problems: { where: string; message: string }[];
      splits: {
        name: 'train' | 'val' | 'test';
        images: {
          file: string;
          shown: string;
          relative: string;
          label: (LabelCheck & { shown: string; text: string }) | null;
        }[];
        unpaired_labels: string[];
      }[];
    };
  };
  'check-labels': {
    request: { classes: number; labels: string[] };
    answer: { labels: LabelCheck[] };
  };
  split: {
    request: { root: string; shown: string; split: string };
    answer: { names: string[]; images: { name: string; file: string; labels: string; where: string }[] };
  };
  evaluate: {
    request: { images: { labels: string; where: string; predictions: number[][] }[] };
    answer: EvaluationMetrics;
  };
}

/** COCO-style metrics (mini_streamio.detection_metrics.evaluate_detections), keyed as `evaluate --json` writes them. */
export interface ClassMetrics {
  id: number;
  /** Images with at least one ground-truth box of this class. */
  images: number;
  instances: number;
  precision: number;
  recall: number;
  mAP50: number;
  'mAP50-95': number;
}

export interface EvaluationMetrics extends Omit<ClassMetrics, 'id'> {
  /** The confidence at which precision and recall are reported (the best class-mean F1 at IoU 0.50). */
  confidence: number;
  classes: ClassMetrics[];
}

/** Runs one operation of the entry point; rejects with RuleInputError for the user's data, Error for the rest. */
export function sharedRules<Op extends keyof SharedRules>(
  op: Op,
  request: SharedRules[Op]['request'],
): Promise<SharedRules[Op]['answer']> {
  if (!fs.existsSync(stackPython)) {
    return Promise.reject(new RuleInputError(`${stackPython} is missing: run \`npm run setup\` first`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(stackPython, ['-m', 'mini_streamio.shared_rules', op], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.stdin.on('error', () => undefined); // an early exit closes stdin: the exit status tells why
    child.on('close', (code, signal) => {
      const errors = Buffer.concat(stderr).toString('utf8').trim();
      if (code === 0) {
        try {
          resolve(JSON.parse(Buffer.concat(stdout).toString('utf8')));
        } catch (err) {
          reject(new Error(`python -m mini_streamio.shared_rules ${op} answered no JSON: ${err}`));
        }
      } else if (code === USER_ERROR_EXIT) reject(new RuleInputError(errors));
      else
        reject(
          new Error(
            `python -m mini_streamio.shared_rules ${op} failed (${signal ?? `exit ${code}`}):\n${errors.split('\n').slice(-20).join('\n')}`,
          ),
        );
    });
    child.stdin.end(JSON.stringify(request));
  });
}
