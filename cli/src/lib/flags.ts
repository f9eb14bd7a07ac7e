// Flags shared by the commands that talk to the detection service.
import { Flags } from '@oclif/core';
import { DETECTION_PARAMS } from './contracts.js';

/** A number flag limited to [0, 1] (oclif has integer flags only). */
export const fraction = (description: string, defaultValue: number) =>
  Flags.custom<number>({
    description,
    default: defaultValue,
    parse: async (input) => {
      const value = Number(input);
      if (input.trim() === '' || !(value >= 0 && value <= 1))
        throw new Error(`expected a number from 0 to 1, got "${input}"`);
      return value;
    },
  })();

/** --max-det: the service's range, and its default unless a command has its own. */
export const maxDetFlag = (defaultValue: number = DETECTION_PARAMS.max_det.default) =>
  Flags.integer({
    description: 'most boxes per image',
    min: DETECTION_PARAMS.max_det.minimum,
    max: DETECTION_PARAMS.max_det.maximum,
    default: defaultValue,
  });

export const gatewayFlags = {
  url: Flags.string({ description: 'gateway URL [default: $GATEWAY_URL or http://127.0.0.1:8080]' }),
};
