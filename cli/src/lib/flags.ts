// Flags shared by the commands that talk to the detection service.
import { Flags } from '@oclif/core';

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

export const gatewayFlags = {
  url: Flags.string({ description: 'gateway URL [default: $GATEWAY_URL or http://127.0.0.1:8080]' }),
};
