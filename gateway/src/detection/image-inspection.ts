// Checks an upload before anything is stored: size, type by magic bytes (never by the
// client's Content-Type or file name) and dimensions from the header alone, so a
// decompression bomb is refused without decoding a pixel.
import { imageSize } from 'image-size';
import { DetectionError } from './errors.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'bmp';

export interface InspectedImage {
  format: ImageFormat;
  contentType: string;
  width: number;
  height: number;
}

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

const signatures: { format: ImageFormat; contentType: string; matches: (b: Buffer) => boolean }[] = [
  { format: 'jpeg', contentType: 'image/jpeg', matches: (b) => startsWith(b, 0, [0xff, 0xd8, 0xff]) },
  {
    format: 'png',
    contentType: 'image/png',
    matches: (b) => startsWith(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  },
  {
    format: 'webp',
    contentType: 'image/webp',
    matches: (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
  },
  { format: 'bmp', contentType: 'image/bmp', matches: (b) => b.toString('latin1', 0, 2) === 'BM' },
];

export function inspectImage(bytes: Buffer, limits: ImageLimits): InspectedImage {
  if (bytes.length > limits.maxBytes)
    throw new DetectionError(
      'image_too_large',
      `the image is ${bytes.length} bytes; the limit is ${limits.maxBytes} bytes (MAX_IMAGE_BYTES)`,
    );
  if (bytes.length === 0) throw new DetectionError('image_empty', 'the image field holds an empty file');
  const signature = signatures.find((s) => s.matches(bytes));
  if (!signature)
    throw new DetectionError(
      'unsupported_image_type',
      'the upload is not a JPEG, PNG, WebP or BMP image (judged by its first bytes)',
    );
  const { width, height } = readDimensions(bytes, signature.format);
  const pixels = width * height;
  if (pixels > limits.maxPixels)
    throw new DetectionError(
      'image_too_many_pixels',
      `the image is ${width}×${height} = ${pixels} pixels; the limit is ${limits.maxPixels} (MAX_IMAGE_PIXELS)`,
    );
  return { format: signature.format, contentType: signature.contentType, width, height };
}

function readDimensions(bytes: Buffer, format: ImageFormat): { width: number; height: number } {
  const unreadable = (why: string) =>
    new DetectionError('image_unreadable', `the ${format.toUpperCase()} header cannot be parsed: ${why}`);
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(bytes);
  } catch (err) {
    throw unreadable((err as Error).message);
  }
  const { width, height } = size;
  if (size.type !== (format === 'jpeg' ? 'jpg' : format)) throw unreadable(`it reads as ${size.type}`);
  if (!(width > 0 && height > 0)) throw unreadable(`it gives a size of ${width}×${height}`);
  return { width, height };
}

function startsWith(bytes: Buffer, offset: number, expected: number[]): boolean {
  return expected.every((byte, i) => bytes[offset + i] === byte);
}
