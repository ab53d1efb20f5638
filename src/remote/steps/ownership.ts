/**
 * Which project owns a deploy path: `<path>/.ee-deploy/project` holds its name, written by the
 * first run that takes the lock there (a tree Capistrano made, or an older ee-deploy, has none
 * and is adopted). Another project's deploy or rollback stops before changing anything, unless
 * forced ($FORCE), which also hands the path over to the forcing project.
 * Script variables: $META, $PROJECT (empty: no check), $FORCE.
 */
import { say } from '../protocol.js';

/** the owner file: one line, the project name (validated by the config schema) */
const OWNER = `"$META/project"`;

/**
 * Prints `owner <name>` when the path has an owner; when it is another project (and not forced)
 * runs `onForeign` (default: the script ends there, having changed nothing).
 */
export function ownerCheck(onForeign = 'exit 0'): string {
  return [
    `owner=; { IFS= read -r owner < ${OWNER}; } 2>/dev/null`,
    `if [ -n "$owner" ]; then ${say('owner $owner')}; [ -z "$PROJECT" ] || [ "$owner" = "$PROJECT" ] || [ -n "$FORCE" ] || { ${onForeign}; }; fi`,
  ].join('\n');
}

/** under the lock: record $PROJECT as the owner when there is none yet (or when forced) */
export const CLAIM = `if [ -n "$PROJECT" ] && { [ -z "$owner" ] || [ -n "$FORCE" ]; }; then printf '%s\\n' "$PROJECT" > ${OWNER}.tmp && mv -f ${OWNER}.tmp ${OWNER}; fi`;

/** The one-line refusal: `path` belongs to `owner`, not to `project`. */
export function foreignOwnerMessage(host: string, path: string, owner: string, project: string, command: string): string {
  return `${host}: ${path} belongs to project "${owner}", not "${project}": ${command} refused (pass --force to ${command} there anyway and make "${project}" its owner)`;
}
