/* The training job's API without training: options, events, refusals. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "derm-error.h"
#include "derm-train-job.h"

static void
test_names (void)
{
  DermBalance b;
  g_assert_true (derm_balance_from_name ("sampling", &b));
  g_assert_cmpint (b, ==, DERM_BALANCE_SAMPLING);
  g_assert_false (derm_balance_from_name ("oversample", &b));
  g_assert_cmpstr (derm_balance_name (DERM_BALANCE_LOSS), ==, "loss");
  g_assert_cmpstr (derm_train_event_type_name (DERM_TRAIN_EVENT_EARLY_STOP), ==, "early_stop");
}

static JsonObject *
parse (const char *text, JsonParser *parser)
{
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  g_assert_null (strchr (text, '\n'));
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_event_json (void)
{
  DermTrainEvent e = { .type = DERM_TRAIN_EVENT_STEP, .epoch = 2, .epochs = 30, .step = 5,
                       .steps = 100, .global_step = 205, .loss = 0.5, .images_per_second = 800,
                       .lr = 1e-3, .eta_seconds = NAN, .elapsed_seconds = 12 };
  g_autofree char *line = derm_train_event_to_json (&e);
  g_autoptr(JsonParser) p = json_parser_new ();
  JsonObject *o = parse (line, p);
  g_assert_cmpstr (json_object_get_string_member (o, "event"), ==, "step");
  g_assert_cmpint (json_object_get_int_member (o, "global_step"), ==, 205);
  g_assert_cmpfloat (json_object_get_double_member (o, "loss"), ==, 0.5);
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (o, "eta")));

  DermTrainEvent t = { .type = DERM_TRAIN_EVENT_TEST, .json = "{\"accuracy\":0.75}",
                       .message = "quote \" and\nnewline" };
  g_autofree char *tl = derm_train_event_to_json (&t);
  g_autoptr(JsonParser) p2 = json_parser_new ();
  JsonObject *to = parse (tl, p2);
  g_assert_cmpfloat (json_object_get_double_member (json_object_get_object_member (to, "metrics"),
                                                    "accuracy"), ==, 0.75);
  g_assert_cmpstr (json_object_get_string_member (to, "message"), ==, "quote \" and\nnewline");

  DermTrainEvent ep = { .type = DERM_TRAIN_EVENT_EPOCH, .epoch = 0, .epochs = 1, .loss = 1.5,
                        .val_metric = 0.4, .val_metric_name = "balanced_accuracy", .is_best = TRUE };
  g_autofree char *el = derm_train_event_to_json (&ep);
  g_autoptr(JsonParser) p3 = json_parser_new ();
  JsonObject *eo = parse (el, p3);
  g_assert_cmpfloat (json_object_get_double_member (eo, "balanced_accuracy"), ==, 0.4);
  g_assert_true (json_object_get_boolean_member (eo, "best"));
}

static void
expect_refusal (DermTrainJobConfig *cfg, int code, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  volatile gint cancel = 0;
  g_assert_false (derm_train_job_run (cfg, NULL, NULL, &cancel, &error));
  g_assert_error (error, DERM_ERROR, code);
  g_assert_nonnull (strstr (error->message, fragment));
}

static void
test_refusals (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("derm-job-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (tmp, "m.safetensors", NULL);
  DermTrainJobConfig cfg;
  derm_train_job_config_init (&cfg);
  g_assert_cmpint (cfg.balance, ==, DERM_BALANCE_SAMPLING);
  g_assert_cmpfloat (cfg.val_fraction, ==, 0.15);
  cfg.data_dir = tmp;
  cfg.out_path = out;

  cfg.epochs = 0;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "epoch");
  cfg.epochs = 1;
  cfg.arch = DERM_ARCH_UNET;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "ResNet");
  cfg.arch = DERM_ARCH_RESNET18;
  cfg.batch = 1;
  expect_refusal (&cfg, DERM_ERROR_INVALID, "batch");
  cfg.batch = 8;
  /* an empty folder: no metadata */
  expect_refusal (&cfg, DERM_ERROR_NOT_FOUND, "HAM10000_metadata.csv");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_rmdir (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/train-job/names", test_names);
  g_test_add_func ("/train-job/event-json", test_event_json);
  g_test_add_func ("/train-job/refusals", test_refusals);
  return g_test_run ();
}
