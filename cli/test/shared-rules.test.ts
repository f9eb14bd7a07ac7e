// The CLI's spawn of `python -m mini_streamio.shared_rules`: answers come back parsed, the user's
// mistakes (exit 3) as RuleInputError with Python's message, anything else as a failure naming the
// operation with the end of Python's stderr.
import { describe, expect, it } from 'vitest';
import { RuleInputError, sharedRules } from '../src/lib/shared-rules.js';

describe('sharedRules', () => {
  it('when the request is good, then the answer is parsed', async () => {
    const answer = await sharedRules('check-labels', { classes: 1, labels: ['0 0.5 0.5 0.2 0.2\n', 'x'] });
    expect(answer.labels).toEqual([
      { problems: [], classes: [0] },
      {
        problems: [{ line: 1, message: 'expected 5 values "class x_center y_center width height", got 1' }],
        classes: [],
      },
    ]);
  });

  it("when the user's data is wrong, then the error is a RuleInputError with Python's message", async () => {
    const run = sharedRules('evaluate', {
      images: [{ labels: '0 nan 1 1 1', where: 'a.txt', predictions: [] }],
    });
    await expect(run).rejects.toBeInstanceOf(RuleInputError);
    await expect(run).rejects.toThrow('a.txt:1: not a YOLO label line (not numbers): "0 nan 1 1 1"');
  });

  it('when Python fails otherwise, then the error names the operation and shows its traceback', async () => {
    const run = sharedRules('evaluate', { images: 5 } as never);
    await expect(run).rejects.not.toBeInstanceOf(RuleInputError);
    await expect(run).rejects.toThrow(
      /python -m mini_streamio\.shared_rules evaluate failed \(exit 1\):[\s\S]*TypeError/,
    );
  });
});
