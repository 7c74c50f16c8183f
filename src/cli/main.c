/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "derm-cli.h"

int
main (int argc, char **argv)
{
  return derm_cli_main (argc, argv);
}
