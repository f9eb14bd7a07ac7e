// Tiny datasets written to temporary folders for the CLI's unit tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A valid 8×8 JPEG and PNG, so that image checks run on real image bytes. */
export const JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDHooorhPqD/9k=',
  'base64',
);
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGOUkzvBgA0wYRUdtBIAz3YBFFtyrsEAAAAASUVORK5CYII=',
  'base64',
);

export const NAMES = ['circle', 'square', 'triangle'];
export const DATA_YAML =
  'path: .\ntrain: train/images\nval: valid/images\nnc: 3\nnames: [circle, square, triangle]\n';

export function tempDir(prefix = 'mini-streamio-cli-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes `files` (relative path → content) under a fresh folder and returns it. */
export function writeTree(files: Record<string, string | Buffer>, root = tempDir()): string {
  for (const [relative, content] of Object.entries(files)) {
    const file = path.join(root, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return root;
}

/** A valid YOLO dataset: two train images, one val image, boxes of every class. */
export function validYolo(): Record<string, string | Buffer> {
  return {
    'data.yaml': DATA_YAML,
    'train/images/a.jpg': JPEG,
    'train/labels/a.txt': '0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n',
    'train/images/b.png': PNG,
    'train/labels/b.txt': '2 0.7 0.7 0.3 0.3\n',
    'valid/images/c.jpg': JPEG,
    'valid/labels/c.txt': '',
  };
}
