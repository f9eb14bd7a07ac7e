// Every golden fixture against its schema, in TypeScript (ajv); bento/tests/test_contracts.py
// runs the same fixtures through Python's jsonschema, so both languages read the files alike.
import { describe, expect, it } from 'vitest';
import { fixtures, schema, schemaNames, validator } from './schema-check.js';

describe.each(schemaNames)('contracts/%s.schema.json', (name) => {
  it('when it is read, then it names itself and has valid and invalid fixtures', () => {
    expect(schema(name).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema(name).$id).toMatch(new RegExp(`/${name}\\.schema\\.json$`));
    expect(fixtures(name, 'valid').length).toBeGreaterThan(0);
    expect(fixtures(name, 'invalid').length).toBeGreaterThan(0);
  });

  it('when a valid fixture is checked, then the schema accepts every instance in it', () => {
    const validate = validator(name);
    const refused = fixtures(name, 'valid').flatMap(({ file, instances }) =>
      instances.filter((instance) => !validate(instance)).map(() => ({ file, errors: validate.errors })),
    );
    expect(refused).toEqual([]);
  });

  it('when an invalid fixture is checked, then the schema refuses it', () => {
    const validate = validator(name);
    const accepted = fixtures(name, 'invalid')
      .filter(({ instances }) => instances.some((instance) => validate(instance)))
      .map(({ file }) => file);
    expect(accepted).toEqual([]);
  });
});
