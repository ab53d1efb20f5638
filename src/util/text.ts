/** Joins the lines of a message into one (errors and reports are one line each). */
export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
