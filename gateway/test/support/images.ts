// Images for gateway tests: small real files of each accepted type, and crafted bad ones.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');

/** A 64×48 image with one green square, as written by Pillow. */
export function shapeImage(format: 'jpg' | 'png' | 'webp' | 'bmp'): Buffer {
  return fs.readFileSync(path.join(fixtures, `shape.${format}`));
}

/** A PNG signature and IHDR chunk announcing width × height, and nothing else. */
export function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const length = Buffer.alloc(4);
  length.writeUInt32BE(13);
  const crc = Buffer.alloc(4); // not checked by a header reader
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    length,
    Buffer.from('IHDR'),
    ihdr,
    crc,
  ]);
}
