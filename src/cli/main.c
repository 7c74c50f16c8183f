#include "derm-cli.h"

int
main (int argc, char **argv)
{
  return derm_cli_main (argc, argv);
}
