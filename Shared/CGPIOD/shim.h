// libgpiod 1.6 (Debian 12's libgpiod-dev): the character-device GPIO API of the Raspberry Pi's kernel.
#include <gpiod.h>
