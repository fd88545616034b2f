import Ajv2020 from 'ajv/dist/2020';
import eventsSchema from '../../schemas/events.schema.json';

/** Validates events against schemas/events.schema.json; returns the failures with their index. */
export function invalidEvents(events: unknown[]): { index: number; errors: string }[] {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(eventsSchema);
  const bad: { index: number; errors: string }[] = [];
  events.forEach((e, index) => {
    if (!validate(e)) bad.push({ index, errors: ajv.errorsText(validate.errors) });
  });
  return bad;
}
