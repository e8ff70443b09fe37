#include "calib.h"

#include <string.h>

void calib_defaults(calib_t *c)
{
    c->steer_min_us = 1000;
    c->steer_center_us = 1500;
    c->steer_max_us = 2000;
    c->esc_min_us = 1000;
    c->esc_neutral_us = 1500;
    c->esc_max_us = 2000;
    c->throttle_limit = 1000;
    c->flags = 0;
}

static int ordered(uint16_t lo, uint16_t mid, uint16_t hi)
{
    return PULSE_MIN_US <= lo && lo <= mid && mid <= hi && hi <= PULSE_MAX_US;
}

static int centred(uint16_t mid) { return CENTRE_MIN_US <= mid && mid <= CENTRE_MAX_US; }

uint8_t calib_check(const calib_t *c)
{
    if (!ordered(c->steer_min_us, c->steer_center_us, c->steer_max_us) ||
        !ordered(c->esc_min_us, c->esc_neutral_us, c->esc_max_us) || c->throttle_limit > 1000 ||
        (c->flags & (uint8_t)~(CAL_REVERSE_STEER | CAL_REVERSE_THROTTLE)) != 0)
        return CONFIG_INVALID;
    if (!centred(c->steer_center_us) || !centred(c->esc_neutral_us))
        return CONFIG_CENTRE_OUT_OF_BAND;
    return CONFIG_OK;
}

int calib_equal(const calib_t *a, const calib_t *b)
{
    uint8_t x[BODY_CALIB], y[BODY_CALIB];
    pack_calib(a, x);
    pack_calib(b, y);
    return memcmp(x, y, sizeof x) == 0;
}

void calib_to_image(const calib_t *c, uint8_t img[CAL_IMAGE_SIZE])
{
    img[0] = CAL_MAGIC;
    pack_calib(c, img + 1);
    uint16_t crc = proto_crc16(img, 1 + BODY_CALIB);
    img[1 + BODY_CALIB] = (uint8_t)crc;
    img[2 + BODY_CALIB] = (uint8_t)(crc >> 8);
}

int calib_from_image(const uint8_t img[CAL_IMAGE_SIZE], calib_t *c)
{
    calib_t tmp;
    uint16_t crc = (uint16_t)(img[1 + BODY_CALIB] | ((uint16_t)img[2 + BODY_CALIB] << 8));
    if (img[0] != CAL_MAGIC || proto_crc16(img, 1 + BODY_CALIB) != crc)
        return 0;
    unpack_calib(img + 1, BODY_CALIB, &tmp);
    if (calib_check(&tmp) != CONFIG_OK)
        return 0;
    *c = tmp;
    return 1;
}

uint16_t calib_mix(int16_t permille, uint16_t min_us, uint16_t mid_us, uint16_t max_us)
{
    int32_t p = permille;
    if (p > 1000)
        p = 1000;
    if (p < -1000)
        p = -1000;
    if (p >= 0)
        return (uint16_t)(mid_us + ((int32_t)(max_us - mid_us) * p + 500) / 1000);
    return (uint16_t)(mid_us - ((int32_t)(mid_us - min_us) * -p + 500) / 1000);
}
