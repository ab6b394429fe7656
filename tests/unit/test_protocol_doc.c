/* test_protocol_doc.c - docs/PROTOCOL.md's message table and the code's
 * (AX__MSG_TYPES, AX__MSG_FIELDS) say the same: every message type, every
 * field it carries, which are required, and each field's type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

static const char *kind_word(int kind) {
  switch (kind) {
    case AX__FK_UINT: return "uint";
    case AX__FK_INT: return "int";
    case AX__FK_NUM: return "float";
    case AX__FK_STR: return "str";
    case AX__FK_UID: return "uid";
    case AX__FK_BIN: return "bin";
    case AX__FK_STRS: return "[str]";
    case AX__FK_ARGS: return "map/array/nil";
    case AX__FK_MAP: return "map";
    default: return "any";
  }
}

static int type_named(const char *name) {
  for (int t = 1; t < AX__M_COUNT; t++)
    if (strcmp(ax__msg_type_name(t), name) == 0) return t;
  return 0;
}

static int field_named(const char *key) {
  int kind;
  for (int f = 0; f < AX__F_COUNT; f++)
    if (strcmp(ax__msg_field_info(f, &kind), key) == 0) return f;
  return -1;
}

/* One row: "| `t` | entries | meaning |". */
static void check_row(char *line, int *seen) {
  char *cols[4] = {0};
  int n = 0;
  for (char *c = strtok(line, "|"); c && n < 4; c = strtok(NULL, "|"))
    cols[n++] = c;
  assert_true(n >= 2);
  char name[32];
  assert_int_equal(sscanf(cols[0], " `%31[^`]`", name), 1);
  int t = type_named(name);
  if (!t) fail_msg("PROTOCOL.md lists `%s`, which the code does not know", name);
  seen[t] = 1;
  uint32_t allowed, required, doc_allowed = 0, doc_required = 0;
  ax__msg_info(t, &allowed, &required);
  char *save;
  for (char *e = strtok_r(cols[1], ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    while (*e == ' ') e++;
    int bold = strncmp(e, "**", 2) == 0;
    char key[32], word[32];
    if (sscanf(e + (bold ? 2 : 0), "`%31[^`]`%*[*] %31s", key, word) != 2 &&
        sscanf(e + (bold ? 2 : 0), "`%31[^`]` %31s", key, word) != 2)
      fail_msg("`%s`: cannot read the field entry '%s'", name, e);
    int f = field_named(key);
    if (f < 0) fail_msg("`%s`: the code has no field `%s`", name, key);
    int kind;
    ax__msg_field_info(f, &kind);
    if (strcmp(word, kind_word(kind)) != 0)
      fail_msg("`%s`.`%s`: the doc says %s, the code %s", name, key, word,
               kind_word(kind));
    doc_allowed |= 1u << f;
    if (bold) doc_required |= 1u << f;
  }
  if (doc_allowed != allowed || doc_required != required)
    fail_msg("`%s`: fields differ (doc %#x/%#x, code %#x/%#x)", name,
             doc_allowed, doc_required, allowed, required);
}

static void test_doc_table_is_the_code_table(void **state) {
  (void)state;
  FILE *f = fopen(AXLE_SOURCE_DIR "/docs/PROTOCOL.md", "r");
  assert_non_null(f);
  char line[1024];
  int in_table = 0, rows = 0, seen[AX__M_COUNT] = {0};
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "| `t` | fields", 14) == 0) {
      in_table = 1;
      continue;
    }
    if (!in_table) continue;
    if (strncmp(line, "|---", 4) == 0) continue;
    if (line[0] != '|') break;
    check_row(line, seen);
    rows++;
  }
  fclose(f);
  assert_int_equal(rows, AX__M_COUNT - 1);
  for (int t = 1; t < AX__M_COUNT; t++)
    if (!seen[t]) fail_msg("PROTOCOL.md lacks `%s`", ax__msg_type_name(t));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_doc_table_is_the_code_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
