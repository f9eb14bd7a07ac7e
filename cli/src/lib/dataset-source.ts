// Where `evaluate` reads a labelled dataset split from. Implementations: a local YOLO
// directory (local-yolo-dataset.ts); a dataset stored in MinIO (minio-dataset.ts). Labels stay
// text here: Python parses them (yolo_labels.parse_label_rows) when it scores the split.

export interface LabelledImage {
  /** File name, for messages. */
  name: string;
  bytes: Buffer;
  /** The image's YOLO label text ('' when it has no label file: no objects). */
  labels: string;
  /** The label file, for messages about its rows. */
  labelsWhere: string;
}

export interface SplitImages {
  classNames: string[];
  /** How many images `images()` yields (for progress). */
  count: number;
  images(): AsyncIterable<LabelledImage>;
}

export interface DatasetSource {
  /** For messages: where the data comes from. */
  readonly description: string;
  /** A split's class names and images; rejects naming the split if there is none. */
  split(name: string): Promise<SplitImages>;
}
