// The detection page's index.html with the detection parameters' inputs filled in from the
// contract (DETECTION_DEFAULTS), once at start-up: gateway/public/index.html holds placeholders
// such as {{conf.default}} in their min, max, step and value, so the ranges and defaults have no
// copy on the web side.
import fs from 'node:fs';
import path from 'node:path';
import { type Bounded, DETECTION_DEFAULTS } from '../detection/detection-defaults.js';

const PLACEHOLDER = /\{\{(conf|iou|max_det)\.(minimum|maximum|default|step)\}\}/g;

/** The spin buttons' step: integers count by one, thresholds by hundredths (the page's choice). */
const step = ({ type }: Bounded) => (type === 'integer' ? 1 : 0.01);

/** index.html from `dir` with every placeholder replaced; throws on one it does not know. */
export function detectionPage(dir: string): string {
  const html = fs
    .readFileSync(path.join(dir, 'index.html'), 'utf8')
    .replace(PLACEHOLDER, (_, name: keyof typeof DETECTION_DEFAULTS, key: 'step' | keyof Bounded) => {
      const spec = DETECTION_DEFAULTS[name];
      return String(key === 'step' ? step(spec) : spec[key]);
    });
  // A misspelt placeholder would leave an input without its range or default: fail at start-up.
  const left = html.match(/\{\{[^}]*\}\}/);
  if (left) throw new Error(`${dir}/index.html: unknown placeholder ${left[0]}`);
  return html;
}
