/* key_: API keys of the form fp_<key_id>_<secret>.
 *
 * key_id is 16 lower-case hex digits (public, the row's primary key); the
 * secret is 64 lower-case hex digits (256 random bits). Only a SHA-256 hash of
 * the secret, bound to its key id, is stored. The secret is random and long,
 * so a slow password hash would add latency and no strength. */
#ifndef FP_KEY_H
#define FP_KEY_H

#include <stdbool.h>
#include <stddef.h>

#define KEY_ID_LEN 16
#define KEY_SECRET_LEN 64
#define KEY_HASH_LEN 64                                    /* hex of SHA-256 */
#define KEY_TEXT_LEN (3 + KEY_ID_LEN + 1 + KEY_SECRET_LEN) /* "fp_" id "_" secret */

typedef struct key_parts {
	char id[KEY_ID_LEN + 1];
	char secret[KEY_SECRET_LEN + 1];
} key_parts;

/* Split text into key id and secret; -1 if it is not a well-formed key. */
int key_parse(const char *text, size_t len, key_parts *out) __attribute__((warn_unused_result));

/* Make a new random key; text receives the whole key (KEY_TEXT_LEN + 1 bytes). */
int key_generate(key_parts *out, char *text, size_t text_size) __attribute__((warn_unused_result));

/* Hash a key's secret, bound to its id, as KEY_HASH_LEN hex digits + NUL. */
void key_hash(const key_parts *key, char out[KEY_HASH_LEN + 1]);

/* Compare a key with a stored hash in constant time. */
bool key_matches(const key_parts *key, const char *stored_hash);

/* Fill out with n random bytes as 2n lower-case hex digits + NUL. */
int key_random_hex(char *out, size_t nbytes) __attribute__((warn_unused_result));

#endif
