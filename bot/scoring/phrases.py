"""How buyers complain: the domain phrase lexicon, as Python data.

Each entry is ``(kind, weight, cue, patterns)``. ``kind`` is an issue value (``defective`` ...),
or one of the pseudo-kinds below; ``patterns`` use a tiny expansion grammar so one line covers
the spelling variants buyers actually type:

* ``(a|b|c)``  one of the alternatives (an alternative may be several words);
* ``[a|b]``    optionally one of them (or nothing).

Patterns are expanded to literal phrases and compiled into one trie-shaped regex (see
``bot/scoring/domain.py``), so hundreds of phrases cost one linear scan of the text. Text is
lower-cased, curly quotes straightened and whitespace collapsed before matching; apostrophes are
optional in the patterns because buyers drop them (``dont``, ``wont``).

Pseudo-kinds:
  ``neg``       generic unhappiness (no particular problem): "waste of money", "do not buy".
  ``pos``       praise: "works perfectly", "highly recommend".
  ``sarcasm``   markers that flip nearby praise: "yeah right", "thanks for nothing".
  ``turn``      a good start that went bad: "worked great until", "i wanted to love it".
  ``resolved``  the problem was already put right: "replacement works perfectly".
  ``hedge``     softeners that mark a quibble rather than a complaint: "minor", "only complaint".
"""

from __future__ import annotations

# Shared fragments, expanded into patterns below.
_NOT = "(not|n't|nt|never)"
_DOESNT = "(doesn't|doesnt|does not|didn't|didnt|did not|won't|wont|will not|wouldn't|wouldnt|would not|can't|cant|cannot|could not|couldn't|couldnt|isn't|isnt|is not|wasn't|wasnt|was not|no longer|refuses to|refused to)"
_IT = "[it|mine|this|the unit|the device|the product|they|both|one|the item|the thing]"
_DEVICE = "(it|mine|unit|device|charger|speaker|headphones|headset|earbud|earbuds|battery|phone|tablet|laptop|screen|monitor|keyboard|mouse|remote|camera|watch|light|lamp|bulb|fan|heater|kettle|toaster|blender|vacuum|router|drive|controller|console|printer|tv|motor|pump|app|machine|fridge|microwave|dryer|washer|bike|scooter|drone|toy|torch|flashlight|clock|radio|cable|adapter|plug|switch|sensor|thermostat|doorbell|mic|microphone|tracker|alarm|power bank|powerbank|fitbit|one|thing)"
_PART = "(part|parts|piece|pieces|screw|screws|bolt|bolts|nut|nuts|cable|cord|charger|charging cable|remote|manual|instructions|accessory|accessories|battery|batteries|lid|strap|straps|adapter|component|components|bracket|brackets|hardware|legs|leg|wheel|wheels|key|keys|allen key|power cord|power supply|base|stand|mount|handle|cap|caps|filter|blade|blades|hose|nozzle|attachment|attachments|bag|sauce|sachet|item|items|book|booklet|case|cover|tip|tips|earbud|earpiece|dongle|receiver|plate|tray|shelf|shelves|drawer|knob|knobs|button|buttons|insert|inserts|pin|pins|bulb|bulbs|pouch|sock|sticker|stickers|card|sd card|tube|pack|packet)"
_SOFT_PART = "(zip|zips|zipper|zippers|straps|handles|buckles|clasps|strap|handle|seam|seams|stitching|sole|soles|heel|button|buttons|stud|studs|buckle|clasp|hinge|hinges|latch|lid|leg|legs|wheel|wheels|hook|hooks|clip|clips|knob|string|cord|chain|band|lace|laces|strap|pin|magnet|magnets|glue|handle|spout|bristles|rivet|rivets|sequins|beads|gem|gems|stone|stones|charm|eyelet|velcro|elastic|lining|pocket|wire|tip|screw|screws|foot|feet|arm|arms|pedal|rim|mesh|fabric|paint|finish|coating|plating|gold plating|logo|print|decal)"
_BREAK = "(broke|snapped|ripped|tore|split|cracked|came off|fell off|came apart|fell apart|came loose|came undone|came unstitched|came unglued|peeled off|peeled|popped off|broke off|fell out|wore through|wore off|rusted|bent|gave way|gave out|frayed|unravelled|unraveled|disintegrated|crumbled|failed|stopped working|detached|melted)"
_TIME = "(a day|one day|two days|2 days|three days|3 days|a few days|few days|a week|one week|two weeks|2 weeks|three weeks|3 weeks|a few weeks|few weeks|a month|one month|two months|2 months|three months|3 months|a few months|few months|six months|6 months|a year|one year|a couple of days|a couple days|a couple of weeks|a couple weeks|a couple of months|a couple months|the first week|the first day|the first month|first use|the first use|one use|two uses|a few uses|few uses|the second use|second use|one wash|the first wash|first wash|one wear|the first wear|two wears|a few wears|10 days|ten days|5 days|five days|4 days|four days|6 weeks|six weeks|4 weeks|four weeks|30 days|90 days|1 week|1 month|a fortnight|one night|the first night|an hour|one hour|a few hours|minutes|10 minutes|5 minutes|the warranty|warranty)"

# (kind, weight, cue, patterns)
PHRASES: list[tuple[str, float, str, list[str]]] = [
    # ---------------------------------------------------------------- defective (it failed)
    ("defective", 3.0, "stopped working", [
        "(stopped|quit|stop|stops|quits|ceased) (working|functioning|charging|turning on|powering on|responding|connecting|pairing|spinning|heating|cooling|blowing|holding a charge|holding charge|lighting up|syncing|reading|recording|printing|cutting|vibrating|beeping|counting|tracking)",
        "(just|completely|randomly|suddenly) (stopped|quit|died)",
        "(no longer|not longer) (works|working|turns on|charges|holds a charge|connects|pairs|functions|powers on)",
        "(has|had|have) (stopped|quit) (working|charging|functioning)",
        "(now|and) (it )?(is )?(completely )?dead",
        "is (now )?(completely )?dead", "are (now )?dead", "went dead", "gone dead", "stone dead", "totally dead",
    ]),
    ("defective", 3.0, "will not power on", [
        f"{_DOESNT} (turn on|power on|power up|switch on|boot|boot up|start|start up|charge|hold a charge|hold charge|keep a charge|stay charged|stay on|stay connected|connect|pair|sync|work|function|spin|heat up|heat|cool|light up|read|recognize|recognise|detect|respond|turn off|switch off|play|print|load|open|close|lock|inflate|hold air|stay inflated|lather|dispense|register|scan|update|install|fire|ignite|boil|blend|suction|grip|latch|click|stick)",
        f"{_DOESNT} (even )?(turn on|power on|charge|work)",
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not) work (at all|properly|correctly|anymore|any more|right|as it should|like it should|consistently)",
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not) work$",
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not) work[.!,]",
        "(never|never once) (worked|turned on|charged|powered on|connected|paired|functioned|worked properly|worked right|held a charge)",
        "not (working|charging|turning on|powering on|functioning|connecting|pairing|holding a charge) (at all|anymore|any more|properly|correctly|now)",
        "(isn't|isnt|is not|wasn't|wasnt|was not|aren't|arent|are not|weren't|werent|were not|not) (working|charging|turning on|functioning|connecting|pairing|holding (a )?charge)",
        "will not work", "won't work", "wont work",
        "cannot get it to (work|turn on|charge|connect|pair)", "can't get it to (work|turn on|charge|connect|pair)",
        "cant get it to (work|turn on|charge|connect|pair)", "could not get it to (work|turn on|charge|connect|pair)",
        "couldn't get it to (work|turn on|charge|connect|pair)", "couldnt get it to (work|turn on|charge|connect|pair)",
    ]),
    ("defective", 3.0, "dead on arrival", [
        "dead on arrival", "doa", "dead out of the box", "dead right out of the box", "dead straight out of the box",
        "arrived dead", "came dead", "was dead (when|on arrival|out of|from)", "dead from the start", "dead from day one",
        "never worked from (the start|day one|the beginning)", "broken out of the box", "faulty out of the box",
        "didn't work out of the box", "did not work out of the box", "didnt work out of the box",
        "didn't work from (the start|day one|the beginning)", "did not work from (the start|day one|the beginning)",
        "not working out of the box", "defective out of the box", "defective on arrival",
    ]),
    ("defective", 3.0, "failed after a short time", [
        f"(died|broke|failed|quit|stopped|snapped|cracked|fell apart|gave out|gave up|burned out|burnt out|packed up|conked out|crapped out|went kaput|went out|malfunctioned|shorted out|fried|bricked) (after|within|in|inside|on day|on) (just |only |about |around |less than |under |barely |literally )?{_TIME}",
        "(died|broke|failed|quit|stopped working|fell apart) (already|on me|the first time|the second time|overnight|the next day|the same day|a day later|a week later|days later|weeks later|months later|shortly after|soon after|right after|after one charge|after the first charge|after first charge|after charging|after the update|after an update|after updating)",
        f"(lasted|worked for) (only |just |about |barely |less than )?{_TIME}", f"survived (only |just |barely |less than ){_TIME}",
        "(died|failed|broke) (just )?(out|outside) of (the )?(warranty|return window)",
        "(battery|unit|device|motor|charger|screen|speaker|earbud|bulb|fan|it|mine|one|pump|fuse|board|power supply|adapter) (died|fried|failed|burned out|burnt out|blew|shorted|gave out|gave up|packed up|conked out)",
        "(left|right) (earbud|earpiece|ear bud|side|speaker|channel|headphone|airpod|one|bud) (stopped|died|quit|doesn't|doesnt|does not|won't|wont|cut|cuts|keeps cutting|is dead|went dead|has no sound|no sound|stopped working)",
        "(stopped|stops|quit) (registering|ticking|working properly|responding|reading|detecting|recognising|recognizing|clicking|scrolling|tracking)",
        "(double click|double clicks|double clicking|double-click|double-clicks|stick drift|joystick drift|drifting|ghost touches|ghost touch|phantom touches|dead zone)",
        "(barely|only|now only|now barely|lasts) (lasts |last )?(\\d+|one|two|three|an|half an) (hour|hours|minutes|mins)", "(dies|died|shuts off|shuts down|turns off) at (\\d+|around \\d+)",
        "(started|starts|keeps|kept) (cutting out|cutting off|shutting off|turning off|dying|failing|leaking|sparking|smoking|overheating|flickering|buzzing|beeping)",
        "(flickers|flickering|buzzes|buzzing|beeps|beeping|rattles|rattling) (constantly|all the time|nonstop|non-stop|randomly|continuously|loudly)",
        "(a hole|holes|a tear|a rip) (appeared|formed|developed|came|in the|after)",
        "(cracked|snapped|split|broke|tore|ripped) (within|after|in) (a|one|two|three|the first|\\d+) (day|days|week|weeks|month|months|use|uses|wear|wears|wash|washes)",
        "(blew|blown) (a )?fuse", "caught fire", "started smoking", "smoke came out", "burning smell", "smells like burning", "sparked",
    ]),
    ("defective", 2.5, "keeps failing", [
        "(keeps|kept|constantly|randomly|always|continually|repeatedly) (disconnecting|dropping out|dropping the connection|dropping connection|crashing|restarting|rebooting|freezing|shutting off|shutting down|turning off|switching off|losing connection|losing signal|cutting out|cuts out|glitching|lagging|resetting|unpairing|beeping|flickering|leaking|jamming|tripping|failing|overheating|disconnects|crashes|freezes|reboots|restarts|shuts off|shuts down|turns off|drops)",
        "(disconnects|drops|cuts out|shuts off|shuts down|turns off|reboots|restarts|freezes|crashes|resets) (constantly|randomly|all the time|every few minutes|every \\d+ minutes|every few hours|every couple of hours|every \\d+ hours|every hour|every night|every evening|every morning|every few days|every time|every day|repeatedly|on its own|by itself|for no reason|mid|during)",
        "(screen|display) (flickers|flickering|went black|goes black|is black|stays black|cracked on its own|has lines|lines across|is blank|went blank|froze|freezes)",
        "(dead|stuck|bright) pixels?", "dead spot", "lines (on|across) the (screen|display)",
        "(won't|wont|will not|doesn't|does not) (hold|keep) (a |its )?charge", "battery (drains|dies|died|dropped|drops|lasts only|only lasts|barely lasts) (in|after|within|overnight|to zero|completely|in minutes|fast|quickly|very quickly|in an hour|in under)",
        "(overheats|overheating|overheated|gets (really |extremely |very |super )?hot|got (really |very )?hot|too hot to touch)",
        "(buzzing|crackling|static|hissing|humming|grinding|clicking|rattling|squealing|whining|high pitched) (noise|sound)",
        "(makes|making|made) (a |an )?(loud |horrible |awful |weird |strange )?(buzzing|crackling|grinding|clicking|rattling|squealing|whining|hissing|humming|burning) (noise|sound|smell)",
        "error (code|message)", "(throws|shows|showing|displays|gives) (an )?error", "stuck (on|in) (the )?(boot|loading|logo|update|startup|start up) (screen|loop)?", "boot loop", "bootloop",
        "(malfunction|malfunctions|malfunctioned|malfunctioning)", "short circuit", "shorted out", "bricked",
        "(faulty|defective|broken) (unit|product|item|device|battery|charger|cable|one|port|button|switch|motor|sensor|speaker|mic|microphone|screen|zipper|zip|part|seal|valve|thermostat|connection|connector|pump|lock)",
        "(is|was|arrived|came|seems|seemed|must be|appears|clearly|obviously|totally|completely|got a|received a|sent a|sent me a|mine is|mine was) (faulty|defective|a dud|a lemon)",
        "(a|got a|received a|sent a|sent me a|mine is a|mine was a|it's a|its a) (dud|lemon|faulty one|defective one|bad one|bad unit|bad batch)",
        "(charging port|port|button|buttons|switch|trigger|hinge|zipper|zip|lid|latch|lock|seal|valve|dial|knob|touchscreen|touch screen|speaker|mic|microphone|camera|fan|motor|sensor|bluetooth|wifi|wi-fi|usb|hdmi|jack|volume|sound|audio) (stopped working|doesn't work|doesnt work|does not work|don't work|dont work|do not work|no longer works|broke|broken|is broken|was broken|died|failed|stuck|is stuck|gets stuck|sticks|jammed|is loose|came loose|is faulty|is defective|cuts out|cut out|went out|is dead|stopped)",
        "(won't|wont|will not|doesn't|does not) (stay|hold) (closed|shut|open|together|up|in place|locked|tight|its shape)",
        "(leaks|leaking|leaked|leaky) (water|everywhere|all over|from|out|through|when|after|at|around|badly|constantly)", "(started|starts|begun|began) (leaking|to leak)", "it leaks", "they leak", "bottle leaks", "lid leaks",
        "(stopped|stops) (keeping|holding) (it )?(cold|hot|warm|temperature)",
        "(brakes|gears|chain) (failed|slip|slipping|jammed|broke)",
        "not fit for purpose",
    ]),
    ("defective", 2.0, "came off", [
        "(fell|came|snapped|broke|popped|peeled|tore) off", "came apart", "came unstitched", "came unglued", "came loose",
    ]),
    ("defective", 3.0, "part broke or came off", [
        f"{_SOFT_PART} (has |have |had |already |just |completely |literally )?{_BREAK}",
        f"{_SOFT_PART} (was|were|is|are) (already )?(broken|snapped|ripped|torn|split|cracked|loose|bent|peeling|coming off|coming apart|falling off|falling apart|detached|missing|unstitched|frayed|rusted|rusty|chipped|faded|fading)",
        f"(one|two|three|some|several|half|all|most|a few|a couple) of the {_SOFT_PART} (have |had |has )?{_BREAK}",
        "(fell|came|broke|popped|peeled|snapped) (off|apart|loose|out) (after|within|on|the first|in|the second|during)",
        "(falling|coming) apart (after|within|already|at the seams)", "fell to pieces", "(already |is |are |started |starting )(falling apart|coming apart|peeling|fraying|unravelling|unraveling|rusting|chipping|cracking)",
        "(holes?|hole) (after|within|in) (one|the first|two|a few|\\d+) (wash|washes|wear|wears|use|uses|week|weeks|day|days)",
        "(sole|soles|heel|heels) (came|come|coming|separated|separating|detached|peeled|split|cracked|fell)",
        "(paint|finish|coating|plating|print|logo|color|colour) (is )?(peeling|peeled|chipped|chipping|flaking|rubbed off|came off|comes off|faded|wore off|washed off|wears off)",
        "(shrunk|shrank) (after|in) (one|the first|a) (wash|washing|cycle)",
    ]),
    ("defective", 1.5, "warranty claim", [
        "(warranty|guarantee) (claim|replacement|repair|service)", "under warranty", "(honor|honour|cover|covered by) (the )?warranty",
        "(sent|send|sending|shipped) (it )?(back )?(in )?for (repair|repairs|replacement)", "(needed|need|needs|got) (a )?(replacement|repair|repaired)",
        "(replacement|second one|new one|replacement unit|the replacement) (also |did the same|has the same|had the same|died|broke|failed|stopped|is also|was also|does the same|same problem|same issue)",
        "same (problem|issue|fault|thing happened) (again|with the replacement|with the second|with this one)",
    ]),
    # ---------------------------------------------------------------- damaged in transit
    ("damaged", 3.0, "arrived damaged", [
        "(arrived|came|was delivered|got delivered|showed up|turned up|received it|received them|received|got it|got them|delivered|shipped|was shipped) (already |completely |totally |badly |all |partially |very )?(damaged|broken|cracked|smashed|shattered|dented|crushed|bent|scratched|chipped|torn|ripped|squashed|scuffed|snapped|leaking|leaked|opened|open|in pieces|in bits|defrosted|thawed|melted|spoiled|spoilt|rotten|moldy|mouldy|crumbled|broken into pieces|stained|soaked|wet|punctured|busted|destroyed|mangled|split|warped|spilled|spilt|burst|smashed to pieces)",
        "(arrived|came|delivered|turned up|showed up|received) (with|in) (a |two |several |many |huge |big |deep |obvious |visible |bad |a huge |a big |a deep |a large |a massive |a small |a visible |an obvious |a nasty |a long )?(dent|dents|crack|cracks|scratch|scratches|chip|chips|hole|holes|tear|tears|pieces|bits|a broken|broken|a cracked|cracked|a smashed|smashed|a dented|damage|damages|scuff|scuffs|stains|stain|leak)",
        "(damaged|broken|smashed|crushed|cracked|dented|destroyed|lost|opened|mishandled|shattered) (in|during) (transit|shipping|shipment|delivery|the post|the mail|postage|the courier|transport|the van|handling)",
        "(transit|shipping|delivery|courier|postage|post office|postman|mailman|driver) damage", "shipping damage", "transit damage",
        "(broken|cracked|smashed|shattered|damaged|dented|crushed|leaking|spilled|spilt) (on|upon) (arrival|delivery|receipt|opening|unboxing)",
        "(glass|screen|bottle|bottles|jar|jars|mirror|lid|bowl|bowls|plate|plates|mug|mugs|cup|cups|vase|frame|panel|display|ceramic|top|corner|case|casing|leg|lens|box|tin|can|cans|eggs|cake|cookies|biscuits|chocolates|flowers|plant|pot) (was |were |is |are |arrived |came )?(all |completely |totally |badly )?(cracked|smashed|shattered|broken|chipped|dented|crushed|squashed|leaking|melted|wilted|dead|bent|split|burst|mangled|in pieces) (when|on|in the box|in the package|upon|out of the box|on arrival|when it arrived|when they arrived|when delivered|in transit|during shipping|during delivery)",
        "(was|were) (thrown|dropped|kicked|tossed|left in the rain|left out in the rain) (by|over|at|on)",
        "(threw|thrown|tossed|chucked|kicked|dropped) (my |the |our )?(parcel|package|box|delivery) (over|at|onto|on|down|into)",
        "(poorly|badly|barely|not) (packed|packaged|protected|wrapped)", "no (bubble wrap|padding|protection|packaging)", "(inadequate|terrible|awful|poor|bad|flimsy) packaging",
        "(leaked|spilled|spilt) (all over|everywhere|through|in the box|into the box|inside)",
        "(melted|defrosted|thawed|warm|spoiled|spoilt|off|rotten|moldy|mouldy|expired|out of date|past (its|the) (use by|best before|expiry)) (when it arrived|when they arrived|on arrival|by the time|when delivered|when received|upon arrival)",
        "(scratched|scuffed|dented|used|second hand|secondhand|refurbished|opened|returned|pre-owned|preowned|worn|dirty|stained|marked) (and |or )?(returned|used|old|not new|damaged)? ?(item|unit|product|one|box)",
        "(clearly|obviously|definitely) (used|been used|returned|opened|second hand|pre-owned|worn|tampered)",
        "(not|wasn't|wasnt|was not|isn't|is not) (brand )?new", "(someone else's|someone elses) return", "previously (used|opened|returned)",
        "(expired|out of date|past (its|the) (best before|use by|expiry|expiration)( date)?|mouldy|moldy|rotten|gone off|spoiled|spoilt|stale on arrival)",
        "(covered in|full of) (scratches|dents|marks|stains|hair|dust|fingerprints)",
        "(seal|seals|safety seal|the seal) (was |were )?(broken|open|opened|missing|tampered)", "tampered with",
    ]),
    # The outer box alone: the goods inside may be fine ("box was crushed but the mug is fine").
    ("damaged", 2.0, "packaging damaged", [
        "(box|package|parcel|packaging|packet|carton|envelope|bag|case|outer box|shipping box) (was |were |arrived |came |is |all )?(completely |totally |badly |clearly |visibly |all )?(damaged|crushed|smashed|torn|ripped|soaked|wet|destroyed|battered|dented|open|opened|ripped open|torn open|broken|mangled|caved in|squashed|falling apart|split open|had been opened)",
    ]),
    # ---------------------------------------------------------------- missing parts
    ("missing_parts", 3.0, "parts missing", [
        f"(missing|without|lacking|minus) (the |a |an |two |one |some |all |any |several |three |both |its |all the |most of the |half the |half of the |the main |the charging |the power )?{_PART}",
        f"{_PART} (was|were|is|are|went|had gone) (completely |also |still |both |all )?(missing|not included|not in the box|absent|left out|nowhere to be found)",
        f"(didn't|didnt|did not|doesn't|doesnt|does not|never) (come|arrive|ship) with (the |a |an |any |its )?{_PART}",
        f"(no|without any|without a|without the) {_PART} (included|in the box|in the package|in the bag|in the parcel|inside|came with|were included|was included|arrived)",
        f"(only|just) (received|got|came with|contained|had|included|sent|arrived with) (one|two|three|four|five|six|half|\\d+|some) (of|out of|piece|pieces|items|item|bottles|packs|pairs|boxes|units|bags|bars|cans|{_PART})",
        f"(only|just) (one|two|three|four|five|half|\\d+) (of the|out of|of|pieces|items|bottles|packs|pairs|boxes|units|bags|bars|cans|{_PART}) (arrived|came|were in|was in|in the box|in the package|in the bag|included|delivered|received)",
        "(box|package|parcel|bag|envelope|carton|case|order) (was|came|arrived) (completely |totally |basically |almost )?(empty|half empty)", "empty (box|package|parcel|envelope)",
        "(incomplete|not complete|partial) (order|set|kit|delivery|item|product|package|shipment)", "(order|set|kit|delivery|shipment|package) (was |is |arrived |came )?(incomplete|short|partial)",
        "(one|two|three|some|half|part|parts|pieces|items|several|a few|a couple|the rest) of (my |the )?(order|items|pieces|parts|set|kit|bundle|pack|package|delivery) (was|were|is|are) (missing|not there|not included|never arrived|absent|left out)",
        "(is|are|was|were) missing from (the|my) (box|order|package|parcel|kit|set|bag|delivery)",
        "(not|wasn't|wasnt|weren't|werent) (all )?in the (box|package|parcel|bag)", "(left|forgot) (out|to include|to pack|to put in)",
        "(item|items|piece|pieces|part|parts|bits) missing", "missing (items|pieces|parts|bits|screws|hardware|accessories|components)",
        "(pack|box|set) of (\\d+|two|three|four|five|six|eight|ten|twelve) (but|and) (only|just|received only|got only|there were only|there was only)",
        "short (one|two|three|some|\\d+) (items|pieces|parts|screws|bottles|packs)", "(shorted|short changed|shortchanged) (on|by)",
        "(no|missing|without) (instructions|manual|instruction manual|user manual|assembly instructions)",
        "(but|and) (only|just) (got|received|came with|had) (one|two|three|four|five|six|\\d+)",
        f"{_PART} (and|&) (the )?{_PART} (were |are )?missing", f"{_PART} missing", "(were|are) missing", "(dice|cards|counters|tokens|pieces|figures|batteries|screws|bolts|parts) (were |are )?(missing|not included)",
        "came with (no|only) (dice|cards|batteries|screws|bolts|instructions|charger|cable|remote|parts|pieces|lid|hardware)",
        "only (\\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven) in the (box|pack|bag|packet|set|tin|jar|case)",
        "(not|weren't|werent|wasn't|wasnt) in (any of )?the (boxes|box|packages|package|bags)",
    ]),
    ("missing_parts", 2.0, "something missing", [
        "was missing", "(something|bits|stuff) (is|was) missing",
    ]),
    # ---------------------------------------------------------------- wrong item
    ("wrong_item", 3.0, "wrong item sent", [
        "(sent|received|got|shipped|delivered|arrived|gave|sending|came|was|is|were|are|got sent|been sent|given|packed) (me )?(the |a |an |completely |totally |entirely |two |both )?(wrong|incorrect|different) (item|items|product|products|thing|things|size|sizes|colour|color|colours|colors|model|models|order|one|version|style|book|dress|shirt|shoes|part|parts|variant|flavour|flavor|item entirely|package|parcel|type|kind|brand|quantity|set|edition|pattern|design|shade|length|width|pair|charger|cable|case|phone case|bulb|bulbs|filter|filters)",
        "(wrong|incorrect) (item|items|product|colour|color|model|order|parcel|package|flavour|flavor|version|variant|book|part) (sent|was sent|received|delivered|arrived|shipped|in the box|inside)",
        "(not|isn't|isnt|wasn't|wasnt|was not|is not|nothing like|nowhere near) what i (ordered|bought|paid for|purchased|asked for|selected|chose)",
        "(not|isn't|isnt|wasn't|wasnt|was not|is not) the (item|product|one|model|colour|color|size|book|thing|version) i (ordered|bought|paid for|purchased|selected|chose)",
        "(sent|received|got|shipped|delivered|arrived|gave|came with|packed) (me )?(someone else's|someone elses|somebody else's|another customer's|another person's|the wrong person's) (order|item|parcel|package)",
        "(ordered|bought|asked for|paid for|purchased|selected|chose|wanted) (a |an |the |two |some |one )?[\\w-]+ (and|but) (received|got|they sent|was sent|were sent|you sent|it came|i got|i received|came|arrived|what arrived|what came|instead got|they shipped|ended up with|got sent) (me |us )?(a|an|the|some|two|three|one|black|white|grey|gray|blue|red|green|pink|beige|navy|brown|yellow|purple|orange|small|medium|large|single|double|king|queen|size|men's|women's|kids|kid's|child's|\\d+)",
        "(ordered|bought|asked for|paid for|purchased|selected|chose) (a |an |the |two |some |one )?[\\w-]+ [\\w-]+ (and|but) (received|got|they sent|was sent|were sent|you sent|it came|i got|i received|came|arrived|what arrived|what came|instead got|they shipped|ended up with) (me |us )?(a|an|the|some|two|three|one|black|white|grey|gray|blue|red|green|pink|beige|navy|brown|yellow|purple|orange|small|medium|large|single|double|king|queen|size|men's|women's|kids|kid's|child's|\\d+)",
        "(ordered|bought|asked for|paid for|purchased|picked|chose|selected|wanted) .{0,6} (and|but) (received|got|they sent|was sent|were sent|you sent|i got|i received|instead got|what arrived|what came|it came|they shipped|ended up with|got sent|receive) (me |us )?(a|an|the|some|two|three|one|black|white|grey|gray|blue|red|green|pink|beige|navy|brown|yellow|purple|orange|small|medium|large|single|double|king|queen|size|men's|women's|kids|kid's|child's|\\d+)",
        "(ordered|bought|asked for|paid for|purchased) .{0,5} (got|received) (a|an|the|some|two|three|men's|women's|kids)", "what (arrived|came|turned up|was delivered|they sent) was (a|an|the|some|two|three)",
        "(received|got|sent|shipped|delivered|arrived|came) (a |an |the |some |two |me )?[\\w-]+ instead of", "(received|got|sent|shipped|delivered|arrived|came) (a |an |the |some |two |me )?[\\w-]+ [\\w-]+ instead of",
        "instead of (the|my|a|an) [\\w-]+ i (ordered|bought|paid for|asked for|wanted)",
        "(completely|totally|entirely) (different|wrong) (item|product|thing|model|colour|color|size|book)",
        "(mixed up|mix up|mix-up|mixup|muddled) (my |the |our )?(order|orders|items|parcel|delivery)", "(order|orders) (got |was |were )?(mixed up|muddled)",
        "(labelled|labeled|marked|listed) as (a |an |the )?[\\w-]+ but (it's|its|it is|was|inside was|contained|is actually|it was)",
        "(sent|received|got) (the|a) (wrong|different) (one|size)", "wrong (size|colour|color|item|model) (was )?(sent|delivered|received|shipped)",
        "(both|two) (left|right) (shoes|feet|boots|gloves)", "(two|2) left", "(mismatched|odd|different) (pair|sizes|shoes)",
    ]),
    # ---------------------------------------------------------------- not delivered
    ("not_delivered", 3.0, "never arrived", [
        "(never|still not|still hasn't|still hasnt|still has not|still haven't|still havent|still have not|has not|hasn't|hasnt|have not|haven't|havent|not yet|yet to|did not|didn't|didnt|has yet to|have yet to|still waiting to be|still to be|still yet to|still didn't|still did not|still not been|not been) (arrived|arrive|came|come|received|receive|showed up|show up|shown up|turned up|turn up|been delivered|been received|delivered|been shipped|shipped|got it|get it|gotten it|got my order|got my parcel|got my package|reached me|been dispatched|dispatched|made it|landed)",
        "(order|package|parcel|item|items|delivery|shipment|stuff|purchase|gift|present|box) (never|still hasn't|still hasnt|still has not|hasn't|hasnt|has not|still not|did not|didn't|didnt|not|never ever) (arrived|arrive|come|came|showed up|show up|shown up|turned up|been delivered|delivered|received|been received|reached me|made it|got here|gotten here|been shipped|shipped|moved)",
        "(says|said|shows|showed|showing|marked|marked as|listed as|status says|status is|tracking says|tracking shows|app says|email said|notification said|claims|claimed|states|stated|is showing|was marked|was showing|is marked|updated to|confirmed as) (it was |it's |its |as |it has been |my parcel was |it is |was |my package was |my order was )?(delivered|been delivered|handed|left (at|with|in|on)|signed for|posted through|dropped off)",
        "(delivered|left|dropped) (to|at) (the wrong|a different|another|someone else's|someone elses|the neighbour's|the neighbor's|wrong) (address|house|door|flat|building|person|neighbour|neighbor)",
        "(was|has been|got|been|is) (lost|stolen|misplaced|misdelivered|mis-delivered|returned to sender|sent back to the warehouse)", "(lost|stolen|missing) (in|during|in the) (the )?(post|mail|transit|shipping|delivery|system|warehouse|depot)",
        "(lost|stolen|missing|undelivered|vanished) (parcel|package|order|delivery|shipment|item|box)", "(parcel|package|order|delivery|shipment|item) (is |was |has gone |went )?(missing|lost|stolen|vanished|disappeared|nowhere to be found|in limbo)",
        "where is my (order|package|parcel|stuff|delivery|item|refund|money)", "wheres my (order|package|parcel)", "where's my (order|package|parcel|stuff|delivery)",
        "(no|zero) (sign|trace) of (my |the |it|them|this|our |any )", "still (no|nothing)[,.!]? (sign|trace|package|parcel|order|delivery|show|update)",
        "(no idea|don't know|dont know|do not know|not sure) where (my|the|our) (order|package|parcel|delivery|stuff) is", "(and|but|still) no (package|parcel|delivery|sign of it)",
        "(tracking|tracking number|tracking info|tracking information|tracking link|the tracker|status) [still] (hasn't|hasnt|has not|not|never|doesn't|doesnt|does not|isn't|isnt|is not|didn't|didnt|won't|wont) (updated|update|moved|move|changed|change|working|work|valid|exist|exists|show anything|shows nothing)",
        "(tracking|tracking number) (is |was )?(invalid|fake|not valid|not working|dead|stuck|useless|nonexistent)", "stuck (in|at) (customs|the depot|the warehouse|transit|the sorting|sorting)", "no tracking",
        "(waiting|waited|been waiting|still waiting) (for )?(over |more than |almost |nearly |about )?(\\d+|two|three|four|five|six|several|many|a few|a couple of|a couple) (weeks|months) (for|and|now|already|still)",
        "(still )?waiting (on|for) (my|the|our) (order|package|parcel|delivery|item|items|stuff|shipment)",
        "(didn't|didnt|did not|never|have not|haven't|havent|still haven't|still have not) (receive|received|get|got|gotten) (my|the|our|any|it|them|this|a thing|anything|the item|the order|a package|the package|the parcel)",
        "(nothing|no package|no parcel|nothing was) (was )?(delivered|there|at (my|the) door|on (my|the) (porch|doorstep))", "not on (my|the) (porch|doorstep|door step)",
    ]),
    # ---------------------------------------------------------------- fit and size, returns
    ("fit_size", 2.5, "does not fit", [
        "(way |much |far |a bit |a little |slightly |bit |little |ridiculously |really |very |super |rather |quite |far |too |way too |much too |far too |a size |one size |two sizes |several sizes |a full size |a couple sizes )?(too|to) (small|big|large|tight|loose|short|long|narrow|wide|baggy|snug|tiny|huge|skinny|thin|high|low)",
        "(runs|run|running|ran|fits|fit|sized|sizing|cut) (very |really |extremely |super |incredibly |way |a bit |a little |slightly |about a size |about two sizes |a size |a full size |two sizes |one size |at least a size |at least one size |rather )?(small|large|big|tight|narrow|short|long|wide|loose)",
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not|won't|wont|will not|wouldn't|wouldnt|would not|couldn't|could not|can't|cant|cannot|not) (even )?(go over|zip up|button up|do up|go on|get over|stay on|stay up)",
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not|won't|wont|will not|wouldn't|wouldnt|would not|not) (even )?(fit|fits) (me|him|her|them|us|my son|my daughter|my husband|my wife|my feet|my foot|at all|properly|well|right|over|around|anymore|.|!|,)",
        "(couldn't|could not|can't|cant|cannot|unable to) (get|fit|squeeze|pull|zip|button) (it|them|my|into|in|the|over|on|up|these|this)",
        "(size|sizes|sizing|measurements|size chart|size guide|sizing chart|chart) (is |are |was |were )?(way |completely |totally |all |very |really |a bit |slightly )?(off|wrong|inaccurate|misleading|incorrect|inconsistent|a joke|useless|not accurate|not correct|way off|all over the place)",
        "(size|sized|go|order|ordered|ordering|get|buy) (up|down) (a size|one size|two sizes|1 size|2 sizes|at least one|at least a size|half a size)", "size (up|down)",
        "(order|ordered|get|buy|need|needed|go for|went for) (a |one |the )?(size|sizes) (bigger|smaller|larger|up|down)", "(bigger|smaller|larger|different) size",
        "(return|returning|returned|exchange|exchanging|exchanged|swap|swapping|send back|sending back|sent back|sent them back|sent it back) (it |them |these |this |the shoes |the dress |the jacket )?(for|to get) (a |the )?(smaller|bigger|larger|different|right|correct|next) size",
        "(fits|fit|fitted|fitting) (weird|weirdly|oddly|strangely|terribly|horribly|awkwardly|poorly|badly|strange|odd|funny|like a tent|like a sack|like a crop top|tight|too tight|loose)",
        "(pinch|pinches|pinching|rubs|rubbing|digs in|dig in|cuts into|cut into|squeeze|squeezes|squeezing) (my|the|at|on|into)", "gave me blisters", "(cuts|cut) off (my )?circulation", "can't breathe in", "cannot breathe in",
        "(return|returns) (window|period|policy|deadline|label|request|process|form|shipping)", "(outside|past|after|missed|beyond|over|closed) the (return|returns|30 day|30-day|14 day|14-day) (window|period|deadline|policy)",
        "(want|wanted|need|needed|tried|trying|asked|asking|request|requested|requesting|hoping) to (return|exchange|send back|swap)", "(won't|wont|will not|refused to|refuse to|wouldn't|would not|refusing to|can't|cannot) (let me|allow me to|allow a|accept (my|the|a)|take (it|them) back|process (my|the|a)) ?(return|exchange)?",
        "(return|exchange) (was |got )?(refused|denied|rejected|declined)", "(refused|denied|rejected|declined) (my |the |a )?(return|exchange)",
        "(didn't|didnt|did not|doesn't|doesnt|does not) fit (me|my|him|her|them|our|the|right|properly|well|at all)",
    ]),
    # ---------------------------------------------------------------- not as described
    ("not_as_described", 3.5, "not as described", [
        "not (as|like|what was|what is|what's|whats|the same as|the same as what was|anything like what was|anything like) (described|pictured|shown|advertised|listed|stated|in the picture|in the pictures|in the photo|in the photos|on the picture|in the listing|in the description|in the ad|on the website|on the site|the picture|the pictures|the photo|the photos|the description|the listing|the image|the images)",
        "(nothing|not) like (the|its|it's|in the|on the|what was in the) (picture|pictures|photo|photos|image|images|description|listing|ad|advert|advertisement|website|site|product page|model)",
        "false advertising", "falsely (advertised|described)", "(misleading|deceptive|dishonest|fraudulent) (description|listing|advertising|photos|pictures|title|claims)",
    ]),
    ("not_as_described", 2.5, "differs from the listing", [
        "(advertised|listed|described|sold|marketed) .{0,5} as (real|genuine|solid|100%|pure|waterproof|compatible|new|brand new|original|authentic)",
        "(different|differs|differ|varies|vary) (from|to|than) (the |what was |what is |what's )?(picture|pictures|photo|photos|image|images|description|listing|advertised|described|shown|pictured|website|ad)",
        "(looks|look|looked|looking) (completely |totally |nothing |very |so |quite |entirely )?(different|nothing like|cheaper|worse) (from|to|than|like|in person|in real life|irl)",
        "(misleading|false|fake|deceptive|inaccurate|incorrect|wrong|dishonest|fraudulent|photoshopped|edited|fake) (description|listing|advertising|advert|ad|photos|photo|pictures|picture|images|title|claims|claim|specs|specifications|information|info|product description|marketing|labeling|labelling|reviews|dimensions|measurements)",
        "false advertising", "falsely (advertised|described)", "(misrepresented|misadvertised|mis-sold|missold|mislabeled|mislabelled|misleadingly)",
        "(description|listing|ad|advert|website|page|box|label|packaging|title|seller|product page) (says|said|claims|claimed|states|stated|promised|promises|advertises|advertised|shows|showed|clearly says|clearly states) .{0,60}?(but|yet|however|when|and it|it's not|its not|it isn't|it is not|not)",
        "(advertised|listed|described|sold|marketed|labelled|labeled|billed) as [\\w -]{1,40} (but|yet|however|when|and it|it's not|its not|it isn't|it is not|it's actually|actually|is not|isn't)",
        "(fake|counterfeit|knockoff|knock off|knock-off|replica|imitation|bootleg|not genuine|not authentic|not original|not the real|not real) ?(item|product|brand|one|version|copy|apple|samsung|sony|nike|adidas|charger|cable|airpods|perfume)?",
        "(not|isn't|isnt|wasn't|wasnt|is not|was not) (genuine|authentic|original|real|the real thing|the brand|the original|as advertised|as described|as pictured|as shown|as listed|as stated|as promised)",
        "(much|way|a lot|far|significantly|considerably|noticeably|tiny compared|so much|lot) (smaller|bigger|larger|thinner|shorter|lighter|darker|duller|cheaper looking|flimsier) than (it looks|it looked|pictured|shown|advertised|described|expected|i expected|in the (picture|pictures|photo|photos|images|listing|ad|video)|the (picture|pictures|photo|photos|images|listing|description|dimensions|measurements) (suggest|suggested|showed|show|says|said))",
        "(colour|color|shade|pattern|material|fabric|size|dimensions|capacity|wattage|quantity|weight) (is |was |are |were )?(completely |totally |very |nothing |way |a lot |quite |so )?(different|off|wrong|nothing like|not what was|not as|not the same)",
        "(not|isn't|isnt|wasn't|wasnt|is not|was not|aren't|arent|are not|weren't|werent) (real |actual |100% |pure |genuine |solid |the advertised |advertised )?(leather|wool|cotton|silk|gold|silver|sterling|wood|solid wood|stainless steel|stainless|cashmere|merino|linen|organic|waterproof|water resistant|water-resistant|dishwasher safe|bpa free|wireless|4k|hd|full hd|usb-c|usb c|compatible|noise cancelling|noise canceling)",
        "(says|said|claims|claimed|advertised|listed|described) (as )?(waterproof|compatible|4k|real leather|genuine leather|100% cotton|solid wood|stainless|organic|noise cancelling|fast charging|wireless|dishwasher safe|machine washable)",
        "(is|was|are|were|it's|its) (actually )?(plastic|polyester|fake leather|faux leather|pleather|acrylic|cardboard|paper|mdf|particle board|veneer|a sticker|sticker|printed on|print)",
        "(not|isn't|is not|wasn't|was not|aren't|are not) (the )?(same|identical) (as|to) (the )?(picture|pictures|photo|photos|listing|one pictured|one shown|description|sample|original)",
        "(bait and switch|bait-and-switch|not what was advertised|not what it says|not what it claims|not what they show)",
        "(much |way |a lot |far )?(smaller|bigger|tinier|thinner) than (i thought|i expected|expected|advertised|described|pictured|it appears|it appeared|it looks|they look|shown)",
    ]),
    # ---------------------------------------------------------------- poor quality (no fixable fault)
    ("poor_quality", 2.0, "poor quality", [
        "(cheap|cheaply|poor|poorly|low|bad|badly|shoddy|shoddily|terrible|awful|horrible|inferior|crap|crappy|rubbish|substandard|sub-standard|sub par|subpar|questionable|flimsy|dodgy|lousy|abysmal|appalling|dreadful|garbage|junky|trashy|mediocre|disappointing|very poor|really poor|extremely poor|super cheap|very low|really bad|so bad) (quality|made|built|constructed|construction|build|materials|material|plastic|fabric|stitching|workmanship|craftsmanship|finish|manufacturing|design|product|item|build quality|sound quality|picture quality|print quality|product quality)",
        "(quality|build|build quality|material|materials|fabric|construction|workmanship|craftsmanship|stitching|finish|plastic) (is|was|are|were|feels|felt|seems|seemed) (very |really |so |super |extremely |pretty |quite |incredibly |just |absolutely |terribly |rather |a bit |too )?(poor|cheap|bad|terrible|awful|horrible|low|flimsy|shoddy|lacking|appalling|rubbish|crap|crappy|garbage|mediocre|subpar|sub par|questionable|inferior|disappointing|thin|nasty|poorly done|not great|not good|below average|lacklustre|lackluster)",
        "(feels|felt|looks|looked|feel|look|seems|seemed|is|was|very|so|really|super|extremely|incredibly) (very |really |so |super |extremely |pretty |quite |incredibly |kind of |kinda |a bit |too )?(cheap|flimsy|fragile|cheaply made|plasticky|plastic-y|tacky|thin|nasty|toy-like|toylike|like a toy|like a cheap toy|poorly made|badly made|flimsily made)",
        "(cheaply|poorly|badly|shoddily|flimsily) (made|built|constructed|designed|manufactured|sewn|stitched|finished|put together|engineered)",
        "not (very |that |particularly |really |too |all that |so )?(durable|sturdy|well made|well-made|well built|well-built|solid|robust|strong|comfortable|comfy|reliable|accurate|effective|bright|loud|warm|absorbent|powerful|sharp|stable|soft|good quality|great quality|high quality|worth it|impressive|user friendly|intuitive)",
        "(pills|pilled|pilling|bobbles|bobbled|bobbling|fades|faded|fading|shrinks|shrunk|shrank|stretched out|loses shape|lost its shape|lost shape|wrinkles easily|creases easily|sheds|shedding|frays|fraying|scratches easily|stains easily|dents easily|rusts|rusted)",
        "(tastes|tasted|taste|smells|smelled|smelt|smell) (awful|bad|terrible|horrible|disgusting|gross|off|weird|strange|funny|like chemicals|like plastic|chemical|like nothing|of nothing|stale|burnt|burned|rancid|sour|bitter|artificial|fake|nasty|vile|revolting|foul|bland|watery|like cardboard|like soap)",
        "(stale|bland|tasteless|flavourless|flavorless|watery|soggy|rubbery|chewy|greasy|overcooked|undercooked|dry|inedible|disgusting|gross|nasty|revolting|vile|rancid|sour|tough) (and|food|taste|bread|cookies|coffee|tea|chocolate|snack|snacks|meal|chips|crisps|biscuits|cake|product|pizza|burger|fries)?",
        "(sound|audio|picture|image|video|print|call|mic|microphone|camera|photo|bass|screen|display|signal|wifi|reception|connection|suction|battery life|battery|performance|range|coverage|brightness|volume|sleep|cooling|heating|cleaning|grip|traction|adhesion|light|beam|accuracy|speed|charging speed|quality) (quality )?(is|was|are|were) (very |really |so |super |extremely |pretty |quite |incredibly |just |terribly |absolutely |a bit |rather |fairly )?(poor|bad|terrible|awful|horrible|weak|mediocre|tinny|muffled|distorted|grainy|blurry|dim|crap|crappy|rubbish|garbage|pathetic|meh|lacking|disappointing|subpar|sub par|underwhelming|not great|not good|not very good|no good|inconsistent|unreliable|spotty|patchy|slow|laggy|short|inaccurate|useless|abysmal)",
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not) (do|clean|cut|hold|stick|absorb|dry|heat|cool|work|suck|grip|stay|last|seal|block|fix|help|stop|remove|kill|protect|charge) (anything|much|well|properly|very well|that well|as well|as advertised|as described|a thing|a good job|the job|what it says|what it claims|what it should|what it promised|its job|as expected|as it should)",
        "(falls|fell) apart", "(broke|breaks) easily", "(scratches|dents|chips|tears|rips|snaps|cracks) (easily|if you look at it)",
        "(gimmick|gimmicky|toy|a toy|novelty|a joke|joke of a|piece of junk|piece of crap|piece of garbage|piece of trash|piece of plastic|piece of rubbish|pile of junk|pile of crap|cheap junk|cheap crap|cheap plastic|cheap rubbish|junk|rubbish|crap|garbage|trash|dreck|tat|cheap tat)",
        "(hard|difficult|impossible|a pain|a nightmare|painful) to (use|set up|setup|assemble|clean|install|read|open|close|adjust|operate|program|navigate|understand|figure out|pair|connect)",
        "(uncomfortable|itchy|scratchy|hurts|hurt|painful) (to wear|to use|on|after|for)", "(not|isn't|isnt|wasn't|wasnt) (very |that |at all )?comfortable",
    ]),
    ("poor_quality", 1.0, "weak point", [
        "(tinny|muffled|distorted|grainy|blurry|washed out|washed-out|flimsy|wobbly|rickety|creaky|squeaky|scratchy|itchy|see through|see-through|sheer|paper thin|paper-thin|uncomfortable|unwearable|unusable|unreliable|inaccurate|pointless|ineffective|underpowered|weak|noisy|laggy|clunky|buggy|glitchy|bulky|fiddly|awkward|confusing|impractical|inconsistent|boring|bland|stale)",
        "(tastes|tasted|taste|smells|smelled) like (burnt|cardboard|plastic|chemicals|soap|dirt|nothing|feet|cigarettes|medicine|metal)",
    ]),
    # ---------------------------------------------------------------- service, delivery speed, refunds
    ("service", 2.0, "bad service", [
        "(customer|client) (service|support|care|services|team|relations) (is|was|are|were|has been|have been) (very |really |so |super |extremely |absolutely |completely |totally |utterly |just )?(terrible|awful|horrible|useless|non-existent|nonexistent|rubbish|crap|appalling|atrocious|abysmal|poor|bad|rude|unhelpful|a joke|pathetic|dreadful|non existent|the worst|no help|zero help|nowhere|impossible|clueless|incompetent|slow|unresponsive)",
        "(terrible|awful|horrible|useless|non-existent|nonexistent|rubbish|crap|appalling|atrocious|abysmal|poor|bad|rude|unhelpful|pathetic|dreadful|worst|zero|no|nonexistent|incompetent|slow|unresponsive|lousy|shocking|disgraceful|disgusting) (customer |client )?(service|support|customer care|communication|response|after sales|aftersales|after-sales|staff|seller|vendor|company|agent|agents|rep|reps|representative|helpdesk|help desk)",
        "(no|zero|never got a|never got any|haven't had a|haven't had any|haven't received a|have not received a|still no|without a|without any) (response|reply|answer|replies|responses|help|call back|callback|contact|communication|follow up|follow-up|update|updates|acknowledgement|acknowledgment)",
        "(never|still haven't|still have not|hasn't|has not|haven't|have not|didn't|did not|won't|wont|refuse to|refused to|refuses to|ignore|ignored|ignoring|never once) (responded|respond|replied|reply|answered|answer|got back|get back|called back|call back|heard back|hear back|returned my|return my|acknowledged|read my|contacted|helped|help|bothered)",
        "(ignored|ignoring|ghosted|ghosting|stonewalled|fobbed off|brushed off|hung up on|passed around|bounced around|kept transferring) (me|my|us|our)", "transferred (me|us) (to|around|between|from|again|back)",
        "(on hold|waiting on the phone|waited on the phone|hold for|waiting in the queue|in a queue) (for )?(over |more than |nearly |almost |about )?(\\d+|an|one|two|three|forty|thirty|twenty|several|many) ?(minutes|mins|hours|hour|hrs)?",
        "(emailed|emailing|called|calling|rang|ringing|messaged|messaging|contacted|contacting|chased|chasing|complained|wrote|written|tweeted|dm'd|dmed|phoned) (them |the seller |support |customer service |the company |you |the shop |the store )?(\\d+|two|three|four|five|six|several|many|multiple|numerous|countless|so many|a dozen|dozens of|a few|ten|twenty) (times|emails|calls|messages)",
        "(still )?(waiting|waited|wait) (for|on) (a |my |the |our )?(refund|money back|reimbursement|credit|response|reply|callback|call back|replacement|exchange|answer)",
        "(refund|money back|reimbursement) (still )?(hasn't|hasnt|has not|never|not|still not|still hasn't|has still not|was not|wasn't|never was|isn't|is not) (been )?(arrived|come through|processed|issued|received|given|paid|showed up|shown up|appeared)",
        "(refused|refuse|refuses|refusing|won't|wont|will not|wouldn't|would not|declined|denied|denying|rejected) (to )?(give |issue |process |pay |offer |grant |provide )?(me )?(a |my |the |any )?(refund|refunds|money back|my money|reimbursement|compensation|replacement|exchange|credit|warranty|warranty claim)",
        "(no|never got a|never got my|never received a|never received my|still no|haven't got|have not got|haven't received|have not received|didn't get|did not get|didn't receive|did not receive|not received|not had) (my )?(refund|money back|reimbursement)",
        "(warranty|guarantee) (claim )?(was |got )?(denied|rejected|refused|declined|void|voided|ignored|not honoured|not honored)",
        "(charged|billed) (me )?(twice|double|two times|again|extra|more|the wrong amount|for something|without|after cancelling|after canceling|after i cancelled)", "double charged", "(hidden|extra|surprise|unexpected) (fees|charges|fee|charge)", "(overcharged|over charged|scammed|ripped off|conned|cheated)",
        "(late|slow|delayed|delay|delays|terrible|awful|slowest|poor|horrible|bad) (delivery|shipping|dispatch|postage|courier|shipment|arrival)",
        "(an hour|\\d+ minutes|\\d+ mins|\\d+ hours|two hours|hours|a day|a week|\\d+ days|two days|three days|days|weeks) late", "on hold .{0,4} (\\d+|an|one|two|three|several) (hours|hour|minutes|mins|hrs)",
        "(threw|thrown|tossed|chucked|kicked|dumped) (my |the |our )?(parcel|package|box|delivery|order)",
        "(arrived|came|delivered|shipped|dispatched|turned up|showed up) (\\d+|two|three|four|five|six|seven|ten|several|many|a few|a couple of|a week|a month|weeks|days|way|very|so|really|super|extremely) ?(days|weeks|months|day|week|month)? ?late",
        "took (over |more than |nearly |almost |about |around )?(\\d+|two|three|four|five|six|seven|eight|nine|ten|several|many|a few|a couple of|forever|ages|a month|a week|weeks|months|way too long|too long|so long) ?(days|weeks|months|day|week|month|business days|working days)? to (arrive|ship|come|be delivered|deliver|get here|be dispatched|dispatch|process|reach me|turn up|show up)",
        "(delivery|driver|courier|postman|delivery guy|delivery man|delivery person|fedex|ups|usps|dhl|hermes|evri|dpd|yodel|royal mail|amazon logistics|parcelforce) (was |were |is )?(rude|useless|terrible|awful|lazy|careless|threw|dumped|left it|left the|didn't even knock|never knocked|didn't knock|did not knock|lied|faked)",
        "(rude|unprofessional|condescending|dismissive|arrogant|unhelpful|clueless|incompetent) (staff|agent|rep|representative|employee|manager|person|man|woman|guy|lady|cashier|seller|driver|courier|support)",
        "(staff|agent|rep|representative|employee|manager|seller|driver|they|he|she) (was|were) (very |really |so |incredibly |extremely )?(rude|unprofessional|condescending|dismissive|arrogant|unhelpful|clueless|incompetent|useless)",
        "(cancelled|canceled) my (order|booking|subscription)", "(can't|cannot|couldn't|could not|unable to|impossible to) (reach|contact|get hold of|get through to|speak to|talk to) (anyone|a human|a person|someone|them|customer service|support|the seller|the company)",
        "(chat ?bot|automated (reply|response|responses|email|emails)|copy (and|&) paste (reply|response|replies|responses)|canned (reply|response|responses)|scripted (reply|response|responses))",
        "(raised|opened|filed|submitted|logged) a (ticket|complaint|dispute|claim|case|chargeback)", "(ticket|complaint|case|dispute) (number|#|no)", "(file|filed|filing|open|opened|opening) (a )?(chargeback|dispute|claim)",
        "(terrible|awful|horrible|worst|bad|poor|appalling) (experience|company|seller|shop|store|business|retailer)",
        "(keep|kept|keeps) (getting|giving) (me )?(the )?(runaround|run around|excuses)", "give me the runaround", "gave me the runaround",
    ]),
    # ---------------------------------------------------------------- price / value
    ("price_value", 2.0, "poor value", [
        "(tiny|small|smaller|stingy|miserly|measly|pathetic) (portion|portions|amount|serving|servings|quantity)",
        "(overpriced|over priced|over-priced|pricey|too expensive|way too expensive|so expensive|very expensive|really expensive|far too expensive|rip off|ripoff|rip-off|daylight robbery|highway robbery|extortionate|not cheap)",
        "not worth (the|it|the money|the price|the cost|a penny|a cent|the hype|\\$|£|€|what i paid|what we paid|the extra|that much|half the price|full price|the premium|buying|the \\d+)",
        "(waste|wasted|waste of) (of )?(my |your |our |good )?(money|cash|\\$|£|€|hard earned money|hard-earned money|pennies|a purchase)",
        "(way|far|much|too|a lot|so|very) (more )?(expensive|overpriced|pricey)( for what it is| for what you get)?",
        "(for|at) (this|that|the) price (i |you |we |one )?(expected|expect|would expect|should get|would have expected|could have|could get|can get|it should)",
        "(cheaper|half the price|less money|less than half|a fraction of the price) (elsewhere|at|on|in|from|anywhere)", "(can|could) get (it|this|them|the same|something better|better) (for )?(cheaper|for less|for half)",
        "(price|prices) (went up|increased|doubled|hike|is too high|is ridiculous|is insane|is crazy|are ridiculous|are too high)", "(shrinkflation|smaller portions|portion size|portions (are|were) (tiny|small|smaller))",
        "(not|isn't|wasn't|is not|was not) (good |great )?value( for money)?", "(poor|bad|terrible|awful|no|zero) value( for money)?",
    ]),
    # ---------------------------------------------------------------- generic unhappiness
    ("neg", 2.0, "strong complaint", [
        "(do not|don't|dont|never) (buy|purchase|order|waste|bother|recommend|trust)", "(would not|wouldn't|wouldnt|will not|won't|wont|can't|cant|cannot|could not|couldn't|couldnt) (recommend|suggest|buy (this|it|from|again|another)|order (from|again)|purchase (again|from)|trust)",
        "(never|not) (buying|ordering|purchasing|shopping|using|going) (from )?(this|that|them|here|again|there|these)", "never again", "not again", "last time (i|we) (buy|order|use|shop)", "(will|would|i'll|ill|we'll) never (buy|order|use|shop|purchase|recommend|go back)",
        "(avoid|steer clear|stay away|beware|buyer beware|save your money|look elsewhere|shop elsewhere|go elsewhere|don't waste your|dont waste your|buy something else|spend your money elsewhere)",
        "(total|complete|absolute|utter|such a|what a|huge|massive|big) (waste|disappointment|let down|letdown|joke|scam|rip off|ripoff|nightmare|disaster|fail|failure|shambles|mess|junk|garbage|rubbish|con)",
        "(scam|scammers|scammed|fraud|fraudulent|con artists|crooks|thieves|criminal|criminals|a con|conned|ripped off|robbed)",
        "(returned|returning|return|sent back|sending back|send back|sending it back|sent it back|sent them back|going back|went back|took it back|taking it back) (it|them|this|the|for a refund|for refund|immediately|straight away|right away|asap|the same day|the next day)",
        "(asked for|requested|requesting|want|wanted|demand|demanding|need|got|getting|get|received|issued|processing) (a |my |the |full |a full )?(refund|money back|my money back|return label|replacement|chargeback)",
        "(1|one|0|zero|no|half a|negative) stars?", "(1|one|0|zero)/(5|10)", "(give|giving|gave) (it )?(zero|0|no|negative|minus)", "(if i could|would) give (it )?(zero|0|no|less|negative|minus)",
        "(very|really|extremely|so|super|hugely|massively|bitterly|incredibly|deeply|thoroughly|totally|completely|utterly|seriously|very very|most|majorly) (disappointed|disappointing|unhappy|annoyed|frustrated|frustrating|upset|angry|dissatisfied|let down|displeased|unimpressed|fed up|pissed off|pissed|irritated|disgusted|furious|livid|gutted|cross)",
        "(disappointed|disappointing|disappointment|unhappy|dissatisfied|displeased|unimpressed|unsatisfied|frustrated|frustrating|infuriating|annoying|annoyed|upset|angry|furious|livid|gutted|fuming|fed up|sick of|tired of|let down|regret|regrets|regretting|regretted|unacceptable|ridiculous|outrageous|disgraceful|shameful|shocking|pathetic|appalling|atrocious|abysmal|dreadful|horrendous|terrible|horrible|awful|worst|useless|worthless|defective|lousy|sucks|sucked|suck|crappy|shitty|garbage|trash|rubbish|junk|bullshit|bs|wtf|smh|ugh|fml|ffs|argh|grr)",
        "(not|isn't|wasn't|was not|is not|am not|not very|not at all|not too) (happy|pleased|satisfied|impressed|thrilled|amused|great|good|worth|recommended|ideal|what i expected|as expected|as good|up to|acceptable)",
        "(worst|poorest) (purchase|product|thing|item|buy|experience|company|service|money|investment|decision|brand|[\\w-]+) (i've|ive|i have|i've ever|ever|i ever|of my life|in my life)", "(biggest|worst) (mistake|regret)",
        "(should have|should've|shouldve|wish i had|wish i'd|i wish i) (read the reviews|listened|bought|gone with|returned|spent|saved|known|not bought|never bought|stuck with|paid more)", "(wish|wished) i (hadn't|had not|never|didn't) (bought|ordered|purchased)",
        "(learn|learned|learnt) my lesson", "(so|i'm|im|i am|we are|totally|completely) done with", "(unbearable|intolerable|insufferable|a nightmare|the worst)", "lesson learned", "(mistake|error) (to buy|buying|ordering|to order)", "(want|need|give me) my money back",
        "(what a|such a) (shame|pity|letdown|let down|joke)", "(shame|pity) (because|as|since|really|that)", "unfortunately", "sadly", "alas", "too bad",
        "(was|were|am|is|are|i'm|im|i am|really|so|very) (a bit |quite |rather |somewhat |slightly |pretty )?(disappointed|let down|frustrated|annoyed|unhappy|upset|underwhelmed)",
        "(hate|hated|hates|hating|despise|loathe|can't stand|cannot stand) (it|this|them|these|that|the|my|how|when|you|your)", "(stopped|stop|quit) (using|wearing|buying) (it|them|this|these)",
        "(do not|don't|dont|wouldn't|wouldnt|would not) (waste|bother|risk)", "(issue|issues|problem|problems|fault|faults|trouble|defect|defects|complaint|complaints) (with|from|since|after|right away|immediately|straight away|out of the box|from the start|from day one)",
        "(ruined|ruins|ruining|wrecked|destroyed|spoiled|spoilt) (my|our|the|it|everything|christmas|the birthday|the party|the holiday|the trip|the day)",
    ]),
    ("pos", 2.0, "praise", [
        "(love|loved|loving|adore|adored|love love love) (it|this|them|these|the|my|how|that|everything|every|mine|ours)", "(i'm|im|i am|we are|we're|so|very|really|absolutely|totally|completely|extremely|super|more than|beyond|extremely) (happy|pleased|satisfied|impressed|thrilled|delighted|chuffed|stoked|obsessed|in love)",
        "(highly|definitely|would|totally|strongly|absolutely|100%|fully|heartily|wholeheartedly|really|so|def|defo|do) recommend", "recommend (it|this|them|these) (to|highly|100%|wholeheartedly|without|for)",
        "(works|worked|working|performs|performed|runs|fits|fit|fitted|functions|does|did|holds|held) (great|perfectly|perfect|well|fine|beautifully|brilliantly|flawlessly|like a charm|like a dream|a treat|wonderfully|amazingly|excellently|as expected|as advertised|as described|as promised|as it should|exactly as|really well|so well|very well|just fine|great so far|fine so far|well so far|perfectly so far|like new|a dream|the job|its job|exactly)",
        "(5|five|10|ten) stars?", "(5|five|10|ten)/(5|10)", "10 out of 10", "five out of five", "a+", "a\\+",
        "(exactly|just) (as described|as pictured|as advertised|what i (wanted|needed|ordered|was looking for|expected|hoped for)|like the (picture|photo|photos|pictures|description))",
        "(great|excellent|good|amazing|fantastic|brilliant|superb|outstanding|awesome|solid|decent|fab|lovely|perfect|wonderful|stellar|top|top notch|top-notch|high|best) (product|purchase|buy|value|quality|item|price|seller|service|customer service|experience|deal|find|gift|investment|build|sound|fit|choice|bargain|company|communication|packaging)",
        "(worth|worth every) (every penny|the money|the price|it|the wait|buying|the investment|each penny|every cent)", "(no|zero|not a single|not one|not any|never had any|haven't had any|never had a|haven't had a|not had any|had no) (complaints|issues|problems|complaint|issue|problem|regrets|faults)",
        "(exceeded|surpassed|beat|beyond) (my |all |our )?(expectations|expectation)", "(better|nicer|bigger|sturdier|higher quality|softer|brighter) than (expected|i expected|i thought|advertised|pictured|described)",
        "(would|will|i'd|id|i will|we will|we'd|definitely|definitely will|definitely would) (buy|order|purchase|shop) (again|another|more|from)", "(bought|ordered|buying|ordering|purchased|getting) (another|a second|two more|more|one for my|one for our|some more|a second one|a third|again)",
        "(arrived|came|delivered|shipped|turned up|showed up) (quickly|early|on time|fast|promptly|super fast|really fast|very fast|very quickly|next day|the next day|ahead of schedule|before|sooner|in perfect condition|well packaged|well packed|in great condition|safe and sound|intact|as expected|in one piece|undamaged)",
        "(fast|quick|speedy|prompt|rapid|super fast|lightning|next day|free|excellent|great) (shipping|delivery|dispatch|postage|service|response|reply|refund|replacement)",
        "(best|favourite|favorite|nicest|greatest) ([\\w-]+ )?(purchase|product|thing|buy|gadget|investment|gift|headphones|speaker|one) (i've|ive|i have|ever|i ever|in years|so far|of the year|i own)",
        "(game changer|game-changer|life saver|lifesaver|life changing|life-changing|must have|must-have|no brainer|no-brainer|well worth|so worth|totally worth|10/10|11/10|chef's kiss|chefs kiss|obsessed|slaps|goated|a win|big win|banger|bussin|fire|on point|spot on|hits different|nailed it)",
        "(great|good|excellent|amazing|fantastic|brilliant|superb|solid|lovely|perfect|awesome|wonderful|nice|decent|fab|gorgeous|beautiful|comfy|comfortable|sturdy|cute|stunning) (so far|overall|for the price|for what it is)",
        "(can't|cant|cannot) (complain|fault it|fault them|recommend (it|them|this) enough|beat (it|the price|that))", "(no|zero) (complaints|regrets)", "(very|really|so|extremely) (happy|pleased|satisfied|impressed)", "happy (with|customer|camper|bunny)", "thank you", "thanks",
    ]),
    ("sarcasm", 2.0, "sarcasm", [
        "(charges|charged|confirmation|refund|order|tracking|waiting|cancelled|canceled|timing out|missing|broken|again|nothing|delay|delayed|lost) (.|!|,)? ?(great|brilliant|lovely|perfect|wonderful|fantastic|amazing|nice|excellent|awesome|cool|super|marvellous|marvelous) (.|!)",
        "yeah right", "thanks a lot", "thanks for nothing", "thanks a bunch", "so much for", "just what i needed", "just great", "oh great", "oh wonderful", "oh joy", "oh good", "great job", "well done", "nice one",
        "love (how|that|when) (it|they|you|my|the) (stopped|broke|died|failed|never|arrived|came|took|keeps|doesn't|don't|won't|fell|cracked|charged)", "gotta love", "got to love", "you have to love", "(10/10|11/10|five stars|5 stars) would (not|never)", "/s", "🙄", "🙃",
        "(great|amazing|fantastic|brilliant|excellent|wonderful|stellar|top notch|awesome|perfect|lovely) (customer service|service|quality control|quality|packaging|job|work)[.!,]* ?(not|not\\.|/s)", "what a (joke|surprise|shocker)", "shocker", "big surprise", "surprise surprise", "who knew", "of course it",
        "thanks (@|so much |a lot |for )?[\\w@]* ?(for|4) (nothing|ruining|ignoring|losing|breaking|the broken|the wrong|never|making me wait|charging|keeping|stealing|ghosting|wasting)",
    ]),
    ("turn", 2.0, "good start, went bad", [
        "(worked|work|working|was|were|looked|looks|seemed|sounded|performed|ran|loved it|liked it|happy with it|loved them|liked them|fine|great|perfect|good|amazing|brilliant|fantastic|excellent) (great|fine|well|perfectly|perfect|good|amazing|brilliant|fantastic|wonderful|ok|okay|beautifully|flawlessly|nicely|lovely|awesome)? ?(until|till|til|untill|for about|for a few|for the first|for a while|at first|initially|for a week|for a month|for a day|for two|for 2|for 3|for three)",
        "(wanted|want|tried|was hoping|hoped|really wanted|so wanted) to (love|like|enjoy|keep) (it|this|them|these)", "had (high|such high|great|big) hopes", "(looked|looks|sounded|sounds|seemed|seems) (great|good|amazing|perfect|nice|promising|fine) (on paper|at first|initially|in the pictures|in the photos|online|in theory)",
        "(at first|initially|first few days|first week|first couple|for the first) .{0,40}?(but|then|until|however)", "(then|but then|and then|after that|now|suddenly|one day|out of nowhere|a week later|a month later|two weeks later|weeks later|days later)[, ]+(it|the|my|mine|they|one|both|this)",
        "(was|were|used to be) (great|good|fine|perfect|amazing|my favourite|my favorite|excellent|brilliant|reliable|solid)[,.!]? (but|until|till|then|however|now)", "(used to|use to) (work|love|like|be)",
        "(on paper|in theory)", "(first|1st) (one|unit|pair|order|time) was (great|fine|good|perfect)",
    ]),
    ("resolved", 2.0, "already put right", [
        "(replacement|new one|second one|replacement unit|exchange|the replacement|the new one) (works|is working|works great|works perfectly|works fine|arrived|was sent|came|fixed|sorted|solved|has been great|has been fine|is perfect|is great|is fine)",
        "(seller|company|they|customer service|support|amazon|the shop|the store|the team|he|she) (quickly |promptly |immediately |instantly |kindly |happily |graciously |swiftly |right away |straight away |very quickly |super quickly |without question |no questions asked )?(sent|replaced|refunded|resolved|fixed|sorted|rectified|made it right|made up for|credited|reshipped|re-sent|resent|honoured|honored|took care|dealt with|apologised|apologized|issued a refund|gave me a refund|gave a refund|offered a replacement|offered a refund|sent a replacement|sent another|sent a new)",
        "(problem|issue|it|everything|all) (was |got |has been |is |were )?(quickly |promptly |swiftly |easily )?(resolved|fixed|sorted|rectified|solved|sorted out|taken care of|put right)", "(great|excellent|fantastic|amazing|brilliant|superb|good|quick|fast|helpful|responsive|prompt) (customer service|support|service|seller|response|resolution|after sales|aftersales)",
        "(no questions asked|hassle free|hassle-free|without any hassle|no hassle|painless|easy) (return|returns|refund|replacement|exchange)?", "(full refund|refund) (was )?(issued|processed|received) (quickly|promptly|immediately|within|the same day|the next day|straight away|no questions)",
        "(works|working|fine) (now|again)", "(turned out|it was) (to be )?(my fault|user error|my mistake|operator error)", "(my|our) (fault|bad|mistake)", "user error", "after (a|the) (reset|firmware update|update|reboot)[, ]*(it )?(works|working|fine|great)",
    ]),
    ("hedge", 1.0, "minor quibble", [
        "(only|one|my only|the only|minor|small|slight|tiny|little|single|biggest|main) (complaint|gripe|niggle|issue|problem|downside|negative|con|drawback|criticism|quibble|flaw|nitpick|thing i'd change|thing i would change|wish)",
        "(minor|small|slight|tiny|little) (thing|things|detail|details|point|points|annoyance|flaw|flaws|issue|issues|gripe|gripes)", "(other than|apart from|besides|except|except for|aside from|but for) (that|this|the|a|one|being|it being|its|it's)",
        "(wish|wished) (it|they|there|the) (had|was|were|came|could|would|did|included|offered)", "would be (nice|better|great|good) if", "would have (liked|preferred|loved)", "would've (liked|preferred|loved)",
        "(but|though|although|still)[, ]*(overall|all in all|otherwise|for the price|for the money)", "(overall|all in all|all things considered|on the whole|otherwise)[, ]*(great|good|happy|pleased|satisfied|very good|excellent|a good|a great|i'm happy|im happy|i am happy|i'm pleased|i love|love|recommend|worth|it's great|its great|it's good|its good|solid|fine|nice)",
        "not a (big|huge|major) deal", "(no|not a) (big|huge|major) deal", "(doesn't|does not|didn't|did not) (bother|matter|affect|detract|take away)", "nitpick", "(easily|quickly) (fixed|sorted|solved)", "(took|take) (a )?(star|one star|1 star|a point) off", "4 stars because", "four stars because", "(minus|-)(1|one) star", "(hence|thus|so) (4|four) stars",
    ]),
]

# Words that, in the few words before a phrase, mean the phrase is not being asserted:
# "no scratches", "nothing was missing", "didn't leak once".
NEGATORS: frozenset[str] = frozenset({
    "no", "not", "never", "nothing", "none", "nobody", "without", "zero", "neither", "nor",
    "didn't", "didnt", "don't", "dont", "doesn't", "doesnt", "isn't", "isnt", "wasn't", "wasnt",
    "weren't", "werent", "aren't", "arent", "hasn't", "hasnt", "haven't", "havent", "hadn't", "hadnt",
    "won't", "wont", "wouldn't", "wouldnt", "barely", "hardly", "free", "instead",
})
# Phrases that begin with their own negation; a preceding negator then means double negation.
# Words that make a failure hypothetical or someone else's: "if it breaks", "reviews said it died".
HYPOTHETICAL: frozenset[str] = frozenset({
    "if", "unless", "whether", "hope", "hoping", "hopefully", "worried", "worry", "afraid", "fear",
    "scared", "concerned", "might", "wonder", "wondering", "incase", "reviews", "reviewers",
    "others", "people", "heard", "supposedly", "prevent", "avoid", "anyone", "anybody", "chance",
    "risk", "case", "what if", "guess", "expected", "expecting", "thought", "assumed", "feared",
})
# Of HYPOTHETICAL, the ones that only count right before the phrase (auxiliaries are too common
# to suppress a failure three words away: "it did stop working").
NEAR_ONLY: frozenset[str] = frozenset({"case", "chance", "risk", "guess", "avoid", "prevent"})

# General structures (verb + object, arrival + state, order + receipt) rather than set phrases:
# they carry the issue when the nouns are ones no list above names ("came without the string").
_ARRIVE = "(arrived|arrives|came|comes|was delivered|were delivered|got delivered|delivered|received it|received|recieved|showed up|turned up)"
_NUMW = "(\\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half|a few|some)"
_BODY = "(waist|hips|hip|chest|bust|shoulders|shoulder|arms|sleeves|legs|leg|toe|toes|toe box|heel|heels|calf|calves|neck|collar|length|body|crotch|thighs|thigh|bum|feet|foot|instep|ankle|ankles|wrist|wrists|cups|band|armpits|back|rise)"
_SIZE = "(xxs|xs|s|m|l|xl|xxl|xxxl|small|medium|large|\\d+)"
PHRASES += [
    ("defective", 3.0, "failure described", [
        "(lost|loses|losing|lose) (its |all |most )?(suction|power|pressure|signal|connection|charge|heat|grip)",
        "(trips|tripped|tripping|blows|blew|keeps tripping) the (fuse|breaker|circuit|electrics|power)",
        "(went|goes|has gone|turned) (silent|black|blank|dead|dark|quiet|offline)",
        "(started|starts|began|begun|start) (to )?(leak|leaking|crackle|crackling|flicker|flickering|smoke|smoking|smell|smelling|buzz|buzzing|hum|humming|click|clicking|rattle|rattling|wobble|wobbling|peel|peeling|fray|fraying|fail|failing|die|dying|cut out|cutting out|lag|lagging|glitch|glitching|go black|going black|jam|jamming|stall|stalling|slip|slipping|grind|grinding|skip|skipping|freeze|freezing|crash|crashing|overheat|overheating|misfire|misfiring)",
        "(is|are|was|were|keeps|kept) (not )?(reacting|responding|registering|recognised|recognized) ?(to|at all|anymore|any more)?",
        "not (reacting|responding|registering)", "(dead|sticky|stuck|broken) (keys|buttons|key|button)",
        "(die|dies|died|break|breaks|broke|fail|fails|failed|crack|cracks|cracked|snap|snaps|snapped|rip|rips|ripped|tear|tears|tore|split|splits) (in|within|after) (a|one|two|three|\\d+|the first|a few|a couple of) (day|days|week|weeks|month|months|use|uses|wash|washes|wear|wears|run|runs|walk|walks|ride|rides)",
        "(melted|burnt out|burned out|caught fire|swelled up|swollen|bulging|puffed up)",
        "(smell|smells|smelled|smelt) (of )?burning", "(streaks|lines|spots|blotches) on (every|each|the) (page|print|prints|screen|display|photo)",
        f"{_SOFT_PART} (is |are |was |were |has |have )?(coming|came|come) (away|off|apart|open|undone|unstitched|loose)",
        f"{_SOFT_PART} (opened|open|split|ripped|tore|cracked|snapped) (after|on|within|at|in|the)",
        "(cracked|snapped|split|broke|ripped|tore) (at|along|across|through|where|around|in half|in two|down the middle|across the middle|on its own|by itself)",
        "(is|are|was) (wobbly|wobbling|uneven|lopsided|crooked|warped)", "(one|a) leg is (shorter|longer)", "(wobbles|wobbled)",
        "(dried|dries|drying) (out|up) (within|after|in)", "(only|just) (goes|turns|works|charges|plays|runs|heats) (on|in|when|if|one|straight|sometimes|half)",
        "(doesn't|doesnt|does not|won't|wont|didn't|did not|can't|cant) (turn|go|steer|spin|move|heat|cool|seal|lock|close|open|stay closed|latch|grip|hold) (left|right|anymore|any more|properly|at all|above|past|beyond|up|down)",
        "(seal|seals|lid|valve|gasket) (won't|doesn't|does not|will not|wont|doesnt|no longer) (seal|close|hold|stay|lock)",
        "(leaks|leaking|leaked|leak) (at|from|through|around|along|under|on) (the )?(seams|seam|bottom|base|side|lid|rim|joint|tap|valve|connector|zip)",
        "(burst|bursts|split|splits) (at|on|along) (the )?(connector|seam|seams|joint|first|side)",
        "(clicking|grinding|rattling|buzzing|whining|beeping) (sound|noise) (and|then|now)",
        "(error|fault) (\\d+|code|light|message)", "(screen|display|glass|case) cracked (on its own|by itself|overnight|for no reason)",
        "(pole|handle|strap|buckle|clasp|hinge|leg|arm|wheel|pedal|zip|zipper|sole|seam|heel|lid|bracket|frame|axle|spoke|chain|cable|cord|hose) (snapped|broke|cracked|split|ripped|tore|bent|burst|gave way|fell off|came off)",
        "(wheel|wheels|leg|legs|handle|knob|arm|armrest|door|drawer|shelf|strap|button|stone|gem|stud|studs|pearl|bead|beads) (came|fell|falls|fall|comes|keeps coming|keeps falling) (off|out|loose|apart)",
        "(turned|turns|turn) (my )?(finger|fingers|skin|wrist|neck) green", "(went|goes|gone) (blunt|dull|rusty|mouldy|moldy) (after|within|in)",
    ]),
    ("damaged", 3.0, "arrived in a bad state", [
        f"{_ARRIVE} (with|in) .{{0,5}} (cracked|broken|smashed|shattered|dented|chipped|torn|ripped|leaking|leaked|melted|crushed|bent|scratched|stained|wet|soaked|bruised|squashed|burst|snapped|split|cracked in half)",
        f"{_ARRIVE} (in|as) {_NUMW} (pieces|bits|parts)", f"(smashed|broken|shattered|crushed) (in|into|to) ({_NUMW} pieces|pieces|bits|powder|smithereens|crumbs)",
        f"{_ARRIVE} .{{0,3}} (dead|half dead|wilted|mouldy|moldy|rotten|warm|thawed|defrosted|off|soggy|crushed|broken|smashed|in pieces|open|opened|torn open|soaking|soaked)",
        f"{_NUMW} of (the )?(\\d+ )?[\\w-]+ (were |was |are |arrived |came )?(broken|smashed|cracked|shattered|crushed|chipped|dented|leaking|burst|squashed|damaged|bent|in pieces)",
        "(\\d+|two|three|four|five|some|half|all|most) (of|out of) (the |my )?(\\d+ )?[\\w-]+ (broken|smashed|cracked|crushed|chipped|dented|damaged)",
        "(left|thrown|dumped|dropped|placed) (my |the |our )?(parcel|package|box|delivery|order)? ?(in|into) (a puddle|the rain|a bush|the mud|a flower bed|the bin)",
        "(covered in|full of) (dirt|stains|ink|mould|mold|mud|grease|oil|dust|scratches|dents)", "(ink|big|large|huge|dark|grease|oil|dirty) (stain|stains|mark|marks) on",
        "(box|package|parcel|contents|everything|items) (was |were |got |are )?(soaked|wet|damp|soggy|disintegrated|falling apart|leaking)",
        "(broke|broken|cracked|smashed|leaked|burst|spilled|spilt|damaged) (in transit|in the post|during shipping|during delivery|on the way)",
        "(water|rain|liquid) damage", "(clearly|obviously|visibly) (dropped|damaged|crushed|opened|tampered|been opened|used|worn)",
        "(sold|sent|shipped|received) .{0,4} (used|returned|refurbished|second hand|opened) .{0,3} (as new|as brand new|instead of new)",
        "(someone else's|somebody else's|somebody elses) (photos|data|account|hair|fingerprints)",
        "(used|returned|opened|worn|scratched) (item|unit|one|phone|charger|product|box) (sold|sent) as new",
        "(expired|out of date|past (its|the) (date|best before|expiry)) (food|product|stuff)?", "best before (date )?(was|is|had) (passed|expired|two|\\d+|months|weeks|last)",
    ]),
    ("missing_parts", 3.0, "incomplete order", [
        f"{_ARRIVE} without (the |a |an |any |its |his |her |their |both )?[\\w-]+",
        "(came|comes|arrived|shipped|delivered) with (no|only|just) (the )?[\\w-]+",
        f"(only|just) {_NUMW} [\\w-]+ (in the|inside|were in|was in|arrived|came|in my|included|delivered)",
        f"(ordered|bought|paid for|purchased|asked for) (a |the )?(pack of |set of |box of )?{_NUMW} [\\w-]+ ?,? ?(and|but)? ?(only )?(received|got|came|arrived|delivered) (only )?{_NUMW}",
        f"(ordered|bought|paid for|purchased) the (pack|set|box|bundle|case) of {_NUMW} (and|but|,) (only )?(received|got) (only )?(one|two|three|\\d+)",
        "(was|were|is|are) not (there|in the box|in the case|in the bag|in the package|in the parcel|included|inside)",
        "(neither|none) (was|were|of them were|of them was|of which were) (in the box|included|there|inside|in the package)",
        "(box|package|parcel|case|slot|envelope|bag|packet|pouch|tin) (was|is|were|came|arrived) (completely |totally |basically )?empty",
        "empty except for", "(only|just) the (empty )?(box|case|packaging|phone box|outer box)",
        "(supposed to|meant to|should|was meant to|is meant to) (include|contain|come with|have) .{0,5}",
        "(no|without) [\\w-]+ (included|in the box|inside|in the package|in the bag|came with it)",
        "half (the|my|of the|of my) (order|box|items|delivery|shopping|stuff|pieces) (was |were |is |are )?(missing|not there|didn't come|never came)",
        "(missing|lacking) (like |about |around |over )?(\\d+|a few|some|several|half|most|many) (of the )?[\\w-]+",
        "(charged|billed|paid) (me )?(for|the full amount for) (\\d+|two|three|all|them|both|everything|the full)",
        "(one|the) (left|right|other) [\\w-]+ (was|is) (not there|missing|not in)",
    ]),
    ("wrong_item", 3.0, "something else came", [
        "(received|recieved|got|sent|shipped|delivered|came|arrived|gave) .{0,5} instead of",
        "(they|you|seller|shop|store) (sent|shipped|delivered|gave|packed) .{0,6} (,|and|but|;|when|while|though|although|-) (i|we) (ordered|bought|asked for|paid for|wanted|chose|picked)",
        "(ordered|orderd|ordred|bought|asked for|paid for|purchased|picked|chose|selected|wanted) .{0,6} (,|and|but|;) (they )?(received|recieved|got|sent|shipped|delivered) (a|an|the|some|me a|me an|me the) .{0,4} (one|version|model|size|colour|color|edition|type|flavour|flavor|instead)",
        "(received|recieved|got|sent) (me )?the (wrong|incorrect)", "(wrong|incorrect) (one|thing|order|item|product|colour|color|size|model|book|version) (again|twice|sent|came)?",
        "(a|the) (different|other) (model|brand|version|colour|color|size|item|product|book|title|flavour|flavor|edition|style|type) (inside|in the box|arrived|came|was sent|was in)",
        "(not|aren't|isn't|arent|isnt) the [\\w-]+ (in|from|on|shown in|shown on) the (listing|picture|photo|ad|description|page|product page)",
        "(someone else's|somebody else's|someone elses|another person's|another customer's) (order|parcel|package|box|item|items)",
        "(label|box|packaging) (said|says|showed|shows|matched) .{0,6} (contents|inside|but|,) .{0,4} (didn't|did not|doesn't|does not|was|is|were) (a |an |the )?(different|wrong|another|not)",
        "(left|right) (one|shoe|boot|glove|earbud) in (size|a size) (\\d+|[\\w-]+) and the (left|right|other) (one )?in",
    ]),
    ("not_delivered", 3.0, "still not here", [
        "(product|goods|it|order|package|parcel|item|delivery|shipment|stuff) (not|never|did not|didn't|didnt|has not|hasn't) (arrive|arrived|come|came|reach|reached|show|showed)",
        "(order|item|package|parcel|thing|delivery) (that )?i (never|didn't|did not|haven't|have not|still haven't) (got|get|received|receive|recieved)",
        "(tracking|status|app|website|order) (still )?(says|shows|showing|is|stuck on|stuck at) (label created|pending|processing|preparing|awaiting collection|pre-shipment|not yet shipped|order placed|ordered|in preparation)",
        "(never|wasn't|was not|wasnt|not) (dispatched|shipped|sent|posted|sent out)",
        "(delivered|gave|left|dropped) (it |my parcel |my package |the parcel |the package |my order |the order )?(to|at|with) (a|the wrong|another|someone else's|a different|the neighbour's|the neighbor's) (house|address|door|flat|person|neighbour|neighbor|street|building)",
        "(stolen|taken|nicked|swiped|disappeared) (from|off) (my|the|our) (porch|doorstep|door step|front door|step|mailbox|letterbox)",
        "(marked|shown|listed|recorded) as (delivered|handed|signed)", "(handed|given) to (resident|neighbour|neighbor|reception)",
        "(stuck|sitting|held) (at|in) (the )?(sorting|depot|customs|hub|warehouse|distribution|border)",
        "(it's|its|it is|now|already) (been )?(day )?(\\d+|two|three|four|five|six|several) (weeks|days)? ?(since|after|and) (i ordered|dispatch|it shipped|shipping|ordering|the order|my order|still nothing|no sign)",
        "(next day|express|guaranteed|priority) (delivery|shipping) .{0,4} (day \\d+|days later|weeks later|still waiting|nothing|never)",
        "(where|wheres|where's) (is )?(my|the|our) (stuff|order|parcel|package|delivery|shipment)",
        "(never|didn't|did not|still not|not) (received|recieved|got|arrived|showed up|turned up) (in the end|at all|anything|a thing)",
    ]),
    ("fit_size", 3.0, "fit described", [
        f"(huge|tiny|big|small|tight|loose|baggy|long|short|narrow|wide|snug|roomy|gaping|gaps|gape) (at|in|on|around|across|round|through|under) the {_BODY}",
        f"(too|very|so|really|super|way too|far too|much too|a bit|quite|extremely|incredibly) (tight|narrow|snug|loose|baggy|roomy|long|short|big|small) (at|in|on|around|across|round|through|under|for) (the|my) {_BODY}",
        "(came|comes|come|coming) up (very |really |so |a bit |a little |quite |way )?(small|big|large|short|long|tight|narrow|a size|half a size|one size|two sizes)",
        f"(a size|half a size|one size|two sizes|{_NUMW} sizes?|a full size|a size and a half) (bigger|smaller|too big|too small|larger|too large|off|up|down|too long|too short)",
        f"(fits|fit|feels|feel|is|are|would fit|sized) like (an?|the)? ?(size )?{_SIZE}",
        "(would|could|will|might) fit a (child|kid|toddler|doll|cat|baby|small child|teenager|giant|horse)",
        "(foot|feet|heel|heels|toes|toe|hand|hands|fingers|arm|arms|head|calf|calves) (slides|slips|slip|slide|slipping|sliding|hurts|hurt|are squeezed|is squeezed|squeezed|rub|rubs|won't go|doesn't go|don't go|wouldn't go|can't get|cannot get|pop out|pops out)",
        f"(is|are|was|were|runs|run) more like (an?|the)? ?(size )?{_SIZE}",
        "(size|sizing|size chart|size guide|sizes|measurements) (is|are) (a lie|lies|lying|rubbish|nonsense|inaccurate|wrong|way off|a joke|useless|misleading)",
        "(couldn't|could not|can't|cant|cannot|unable to) (close|zip|zip up|button|do up|get) (it|them|the jacket|the coat|the dress|the jeans|the trousers|the boots|my foot|my feet|my hand) ?(over|up|on|past|in|closed)?",
        "(ordered|take|took|wear|bought|got) (my )?(usual|normal|regular|typical) (size|\\d+) (and|but)",
        "(too|way too|far too|much too) (tight|narrow|small|big|loose|long|short|wide|baggy|large) (to|for|around|on|across|in)",
        "(so|very|really|extremely|super|incredibly|ridiculously) (tight|narrow|snug|baggy) (that|i|it|my|the|,|.)",
        "(straps|strap|sleeves|legs|hem|waistband|band) (keep|keeps) (falling|slipping|sliding|riding) (off|down|up)",
    ]),
    ("not_as_described", 3.5, "listing says otherwise", [
        "(supposed to be|meant to be|claims to be|claimed to be|sold as|listed as|advertised as|described as|marketed as) .{0,4} (but|yet|,|and|it's|its|it is|not|isn't|when|after|the)",
        "(description|listing|website|page|ad|advert|title|product page) (says|said|claims|claimed|states|stated|promised|promises) .{0,6} (label|tag|box|packaging|it|reality|actual|real) (inside |itself )?(says|said|shows|is|was)",
        "(not|isn't|is not|wasn't|was not) (the )?same (like|as) (in )?(the )?(photo|picture|photos|pictures|image|listing|swatch|description|ad|sample)",
        "(completely |totally |very |so |quite )?different (from|to|than) (the )?(swatch|sample|colour chart|color chart|photo|photos|picture|pictures|listing|website|description)",
        "(measurements|dimensions|description|size guide|photos|pictures|specs|details) (on the page|in the listing|online|on the website|on the site|given|listed|stated)? ?(is|are|were|was) (wrong|incorrect|inaccurate|off|misleading|lies|fake|false|a lie)",
        "(smaller|bigger|thinner|lighter|weaker|shorter) than (the sample|the one in the photo|the one pictured|the last one|advertised|listed|described|stated)",
        "(listing|description|photo|picture|ad|page|box) (promised|promises|shows|showed|shown|says|claims|mentions) .{0,6} (but|,|;) (it|i|there|what|in reality|really|actually|only)",
        "(real|actual|true) (capacity|size|colour|color|wattage|power|battery|weight|length) is",
        "(fake|counterfeit|knock ?off|knockoff|not genuine|not authentic|a copy|a replica)",
        "(not|isn't|is not|wasn't|was not|aren't|are not) (real |genuine |actual |pure |100% )?(silk|leather|gold|silver|oak|wood|cotton|wool|cashmere|linen|bamboo|glass|steel|ceramic|down|merino|marble|crystal)",
        "(is|are|it's|its|obviously|clearly|actually) (obviously |clearly |actually |just |cheap |100% )?(polyester|plastic|acrylic|nylon|veneer|chipboard|mdf|fake leather|pleather|faux|printed|a print|painted plastic|glass not crystal)",
        "(printed|stamped|painted|a sticker),? not (woven|embroidered|engraved|carved|real|solid)",
        "(labelled|labeled|listed|sold|advertised) (as )?(a |an )?(king|queen|double|single|xl|large|full size|full-size|family size|\\d+ ?(ml|l|cm|inch|inches|pack|mah|w|gb|tb))",
        "(false|misleading|dishonest|fake) (advertising|listing|description|claims|marketing|photos|pictures)", "(lifetime|free) [\\w-]+ .{0,4} (costs extra|isn't included|not included|only has|was not)",
    ]),
    ("service", 2.5, "service failure", [
        "(nobody|no one|noone|no-one) (answers|answered|replies|replied|responds|responded|gets back|got back|called back|picks up|picked up|helps|helped|cares|seems to care|will help|can help)",
        "(chat ?bot|chatbot|the bot|automated chat) (just )?(loops|loop|looping|useless|going in circles|is useless)",
        "(hours?|\\d+ minutes?|\\d+ mins?|ninety minutes|an hour|two hours|forever) on hold", "(on hold|waiting on the line|waited on the line|on the support line|on the phone) (for )?(over |more than |nearly |almost |about )?(\\d+|an|one|two|three|ninety|forty|thirty|sixty|fifty) ?(minutes|mins|hours|hour|hrs|min)",
        "(took|takes|taking) (over |more than |almost |nearly )?(\\d+|two|three|four|five|six|several|many) (weeks|months|week|month) (instead of|rather than|to arrive|to get here|to deliver|to be delivered|for delivery)",
        "(order|booking|purchase) (got |was |has been )?(cancelled|canceled) (after|without|with no|for no)",
        "(charged|billed|debited|taken) (me )?(twice|two times|double|three times)", "(two|2|duplicate|double|multiple) (pending )?(charges|payments|transactions)",
        "(still )?no (refund|money back|reimbursement|response|reply|answer) (after|yet|since|for|and)", "(where|hello|still waiting on|waiting for) (is )?my refund",
        "(refund|reply|response|answer) (after|took) (\\d+|two|three|four|five|six|several|many) (emails|calls|weeks|months|phone calls|attempts|tries)",
        "(disconnected|hung up|cut off) (twice|again|on me|after)", "(tells|told|keep telling|keeps telling) me to (wait|be patient|contact the courier|file a claim|contact the manufacturer)",
        "(refuses|refused|won't|wont|will not) to do anything", "(premium|paid) (rate )?(line|number)",
    ]),
    ("neg", 2.0, "plain complaint", [
        "worst .{0,4} (ever|of my life|i've ever|i have ever|in years|this year|i've made|i have made)", "(so|really|very|totally|completely|honestly) (let down|done with|over it|fed up)",
        "can't even (log in|login|sign in|open it|use it|turn it on|get it)", "(app|update|website|site) (is |was )?(so |sooo |really |very )?(bad|awful|terrible|broken|useless|laggy|slow|buggy)",
        "(horrible|terrible|awful|bad|disappointing|frustrating) (experience|time|start) (from start to finish|overall|all round)?",
        "(got|gets|getting|is|was) (worse|worse and worse) (with|after|every|each|since)", "(heartbroken|devastated|ruined|scary|dangerous|unsafe|a hazard|fire hazard)",
    ]),
    ("pos", 2.0, "praise", [
        "(fits|fit|fitted|is|runs|run) true to size", "(size|sizing|size chart|size guide) (is |was )?(spot on|accurate|perfect|correct|right|true)",
        "(fits|fit) (like a glove|perfectly|perfect|great|well|nicely|beautifully)", "(all|every) (parts|pieces|screws|items) (were |was )?(there|present|included|accounted for)",
        "(arrived|came) (in one piece|intact|undamaged|safely|in perfect condition|well packed|well wrapped|a day early|early)",
    ]),
]


# Part x failure: a named component and a failure verb within a short window ("the right cup
# started crackling", "the chuck stopped gripping"). Whole devices (phone, laptop, tv) are left
# out on purpose: "my phone died" is usually a flat battery in a post about something else.
_COMP = ("(battery|batteries|screen|display|panel|touchscreen|touch screen|button|buttons|key|keys|keyboard|spacebar"
         "|space bar|trackpad|touchpad|scroll wheel|hinge|hinges|zipper|zip|strap|band|buckle|clasp|charger|port"
         "|charging port|usb port|jack|headphone jack|cable|cord|plug|speaker|speakers|mic|microphone|camera|webcam"
         "|lens|sensor|fan|fans|motor|pump|seal|gasket|valve|handle|wheel|wheels|sole|soles|seam|seams|stitching"
         "|heel|earbud|earbuds|bud|buds|earpiece|ear cup|cup|headband|remote|controller|joystick|trigger|dial|knob"
         "|switch|timer|thermostat|heating element|element|bulb|bulbs|led|leds|backlight|wifi|wi-fi|bluetooth"
         "|connection|signal|firmware|software|router|modem|ssd|hard drive|drive|memory card|printer|scanner|nozzle"
         "|filter|hose|blade|blades|chuck|spokes|spoke|frame|chain|brake|brakes|gears|pedal|tyre|tire|spring|springs"
         "|compressor|door|drawer|tap|sprayer|flask|kettle|toaster|lamp|unit|device|lid|case|platter|tray|latch|lock"
         "|mount|bracket|leg|legs|clip|rivet|eyelet|lining|light|lights|torch|flashlight|projector|soundbar|subwoofer"
         "|amplifier|receiver|dongle|adapter|power supply|power bank|powerbank|drone|propeller|propellers|vacuum"
         "|blender|hairdryer|hair dryer|straightener|toothbrush|shaver|trimmer|charging pad|dock|stylus|cartridge"
         "|keypad|pin|axle|nib|bristles|spout|dimmer|ear cups)")
# Failure verbs holding no negator (the whole span is checked for one: "the hinge never broke").
_FAIL_HARD = ("(died|dies|dead|broke|breaks|cracked|cracks|snapped|snaps|failed|fails|stopped|stops|quit|froze"
              "|freezes|frozen|crashed|crashes|flickers|flickered|flickering|leaks|leaking|leaked|peeling|peeled|peels"
              "|flaking|flaked|flakes|came off|fell off|came apart|fell apart|came undone|came loose|came away"
              "|keeps disconnecting|keeps dropping|keeps cutting out|keeps turning off|keeps restarting|keeps freezing"
              "|keeps crashing|keeps falling off|keeps coming off|keeps jamming|cuts out|cutting out|cut out|drops out"
              "|dropping out|disconnects|overheats|overheating|overheated|burned out|burnt out|shorted|fried|jammed"
              "|jams|went black|went blank|goes black|goes blank|went dark|shuts off|shuts down|switches off"
              "|unresponsive|stopped responding|bricked|swollen|swelled|bulging|frayed|fraying|ripped|tore|torn|bent"
              "|warped|rusted|corroded|melted|smoking|sparked|sparking|trips|tripped|gave out|gave way|packed up"
              "|conked out|malfunctioned|malfunctions|shattered|pops out|popped out|falls off|fell out|falls out"
              "|went offline|goes offline|is offline|keeps going offline|turn themselves on|turns itself on"
              "|turns itself off|turn themselves off|keeps splitting|splitting open|splits open|keeps popping open"
              "|keeps coming undone|keeps breaking|keeps slipping|keeps sticking)")
# Symptoms also used descriptively ("hums quietly"): weaker, so praise and hedges can outweigh them.
_FAIL_SOFT = ("(crackles|crackling|crackle|hums|humming|buzzes|buzzing|hisses|hissing|rattles|rattling|squeaks"
              "|squeaking|squeals|squealing|grinds|grinding|whines|whining|randomly|intermittently|stuck|sticks"
              "|sticking|drains|draining|lags|lagging|glitches|glitching|wobbles|wobbly|drifts|drifting|double clicks"
              "|double-clicks|double clicking|double types|ghost touches|loses connection|lost connection"
              "|loses signal|runs fast|runs slow|skips|stutters|stuttering|chipped|dims)")
_CANT = ("(won't|wont|will not|doesn't|doesnt|does not|didn't|didnt|did not|can't|cant|cannot|no longer|isn't|isnt"
         "|is not|wasn't|wasnt|was not|aren't|are not|refuses to|refused to|stopped|has stopped|never)")
_CAN = ("(work|works|working|turn on|turning on|charge|charging|connect|connecting|pair|pairing|respond|responding"
        "|register|registering|stay|stay shut|stay closed|stay down|stay up|stay on|stay in|hold|holding|change"
        "|changes|changing|click|clicking|close|open|lock|spin|spinning|heat|heating|cool|cooling|light up|power on"
        "|sync|read|reading|detect|detecting|grip|gripping|latch|stick|seal|function|functioning|boot|load|recognise"
        "|recognize|show|display|move|rotate|retract|extend|inflate|pick up|play|playing|hold a charge|do anything"
        "|adjust|tighten|engage|fire|cut|suck|stop|switch|scroll|focus|track|tracking)")
# Words shortly before a failure that make it another product's: "my old kettle died".
FORMER: frozenset[str] = frozenset({"old", "older", "previous", "former", "prior", "ex", "predecessor"})
# Someone else's unit ("my brother's one died twice"): not the product this buyer is reviewing.
OTHERS: frozenset[str] = frozenset({
    "brother's", "sister's", "friend's", "friends'", "colleague's", "coworker's", "co-worker's", "neighbour's",
    "neighbor's", "flatmate's", "roommate's", "cousin's", "uncle's", "aunt's", "someone's", "somebody's",
})
_PLACE = "(order|parcel|package|stuff|delivery|shipment|item|items|purchase|gift|groceries|furniture|sofa|table|bed|refund)"
PHRASES += [
    ("defective", 3.0, "part failed", [f"{_COMP} .{{0,3}} {_FAIL_HARD}"]),
    ("defective", 2.5, "part misbehaves", [f"{_COMP} .{{0,3}} {_FAIL_SOFT}"]),
    ("defective", 3.0, "part will not work", [
        f"{_COMP} [just|still|now|also|sometimes|often|simply|completely|even|then|suddenly|randomly] {_CANT} [even|properly|reliably] {_CAN}",
        f"{_COMP} [just|still|now|also] (picks up|records|shows|displays|plays|outputs|detects|reads) nothing",
        f"{_COMP} (is|are|was|were) (not|no longer) (working|charging|responding|connecting|registering|turning on)",
    ]),
    ("defective", 3.0, "fault symptom", [
        "(constant|loud|annoying|horrible|awful|high pitched|high-pitched|weird|strange|terrible|electrical|persistent) (hum|buzz|hiss|whine|crackle|crackling|rattle|clicking|ticking|squeal|humming|buzzing|hissing|static|popping)",
        "(humming|buzzing|crackling|hissing|crackle|hum|hiss|buzz|static) (since|from|out of|right out of|constantly|all the time|even with|even when|nonstop|non-stop) (day one|the start|the box|nothing|the volume|it's off|switched off)?",
        "(green|pink|purple|white|black|vertical|horizontal|coloured|colored) (line|lines|bar|bars|stripe|stripes|band|bands) (on|across|down|in) (the )?(screen|display|panel|picture|image|bottom|top|middle|left|right)",
        "(green|pink|purple|vertical|horizontal) line (since|after|on|across|down)", "(dead|stuck|bright|hot) pixel",
        "(stuck|loops|looping|hangs|frozen) on the (boot|logo|loading|home|start|startup|splash) (screen|logo|page)?",
        "(error|fault) (light|code|message) (every|each|whenever|keeps|comes on|flashes|flashing)",
        "(legs|leg|sides|feet|drawers) (are|were|is) (different|uneven|not the same) (lengths|length|heights|height|sizes)",
        "(charges|charged|works|worked|only works|only charges) .{0,3} (intermittently|on and off|at an angle|if i hold|when i hold|if you wiggle|when i wiggle|if held)",
        "(rma|rma'd|rmaed|warranty replacement|warranty claim|warranty repair|sent it for repair|back for repair|back to the manufacturer|back under warranty|going back under warranty|return it under warranty)",
        "(replacement|second one|new one|exchange|replacement unit|second unit|the new one|the replacement) .{0,4} (same problem|same issue|same fault|same thing|exactly the same|did the same|does the same|doing the same|also died|also failed|also broke|died too|broke too|failed too)",
        "(first|second|both|two) (one|unit|units|pair) (died|failed|broke|did the same|had the same)",
        "(can't|cannot|can not|couldn't|could not) (be )?(paired|charged|connected|turned on|switched on|fixed|reset|updated)",
        "(no|not any) (sound|audio|picture|image|signal|power|lights|response|display|output) (from|out of|at all|comes out|whatsoever)",
        "(turns|turned|switches|switched) (itself |themselves )?(on and off|off and on) (by|on|at|randomly|at night)",
        "(randomly|constantly|keeps) (reboots|rebooting|restarts|restarting|resets|resetting|disconnects|disconnecting)",
    ]),
    ("defective", 2.5, "part worked loose", [
        f"{_COMP} (has )?(got|gets|getting|became|has become|come|came|went|is getting|are getting|has gone|went all) (really |very |a bit |so )?(loose|wobbly|stiff|sticky|crunchy|mushy)",
        "(held|hold|holding|wiggle|wiggled|wiggling|propped) (it )?at (an|a certain|the right|a weird|a particular) angle", "loose connection",
        "(cuts|cutting|cut|drops|dropping|goes|going|fades|fading|flickers|flickering) in and out",
        "(went|goes|has gone|turned|going) (completely|totally|suddenly|randomly) (silent|black|blank|dead|dark|quiet)",
        "mind of (its|their) own", "(turns|turned|switches|switched) (itself|themselves) (on|off)",
    ]),
    ("pos", 2.0, "still fine", [
        "(still|and still|still going|still) (works|working|going strong|runs|running|fine|alive|perfect|in one piece|like new|as good as new)",
        "(hums|whirs|buzzes|clicks|ticks) (quietly|softly|gently|pleasantly|nicely|faintly)", "(quiet|soft|gentle|low|faint|pleasant|satisfying) (hum|whir|buzz|click|clicks|ticking)",
    ]),
    ("defective", 2.5, "did not hold up", [
        "(was|were) (replaced|swapped|exchanged) (under|on|via) (warranty|guarantee)", "(broke|snapped|cracked|tore|ripped|split|failed|died) (the )?(second|third|first|2nd|3rd) (time|day|use|wear|wash|ride|walk|run)",
        "(turned|turns|blew|blown) inside out", "(spokes|spoke|rib|ribs) (snapped|broke|bent)",
        "(stitching|seam|seams|thread|threads|hem|strap|straps) .{0,4} (came|come|coming|has come|have come) (undone|apart|loose|away|unstitched|unravelled|unraveled)",
        "(flaking|shedding|crumbling|disintegrating|peeling) (and|after|within|off|all over|everywhere|bits)",
    ]),
    ("not_delivered", 3.0, "delivery never came", [
        "(payment|money) (was )?(taken|gone|debited|charged) .{0,4} (then|and then|but|and) (nothing|no sign|no order|no parcel|no package|silence|no delivery|no word)",
        "(weeks|days|months|later|ago|paid|ordered|confirmed|shipped|dispatched) .{0,3} (and then|then|and still|still|and) (absolutely )?nothing (.|!|,|yet|still|since|at all|from|lol|smh|\\?)",
        "(tracking|tracker|status|app|order|link|parcel|package) .{0,4} (label created|pre-transit|awaiting collection|awaiting dispatch|not yet shipped|information received)",
        "(says|said|shows|showed|showing|marked|claims|claimed|confirmed|states|stated) .{0,5} (delivered|handed to resident|handed over|left in a safe place|signed for)",
        "(says|said) otherwise", "nobody (came|knocked|rang|turned up|showed up)", "nothing was (left|delivered)",
        "(tracking|parcel|package|order|status) (hasn't|hasnt|has not|hadn't|not|never|didn't|didnt|did not) (moved|updated|changed|budged|shipped|left)",
        "(\\d+|two|three|four|five|six|seven|eight|nine|ten|several|many) (days|weeks|months) (and|later|on|since|now) (still )?(nothing|no sign|no parcel|no package|still waiting|no word|no order)",
        "(next day|next-day|express|priority|24 hour|24-hour|guaranteed|2 day|two day|2-day|tracked) (delivery|shipping|postage) .{0,6} (days|day \\d+|weeks|still|nothing|never|later)",
        f"(where's|wheres|where is|where are|where tf is|where the hell is) (my|our|the) {_PLACE}",
        "(has yet to|have yet to|hasn't|hasnt|has not|still hasn't|still has not|haven't|have not) (turned up|shown up|materialised|materialized|turn up|show up)",
    ]),
    ("damaged", 3.0, "arrived spoiled or broken", [
        f"{_ARRIVE} (fully|completely|totally|half|partly|partially|slightly|already|all|badly|very|pretty) (thawed|defrosted|melted|crushed|broken|smashed|dented|cracked|squashed|dead|wilted|rotten|off|spoiled|spoilt|warm|soggy|leaking|open|opened|torn|ripped|bent|scratched)",
        "(was|were|is|are) (half |already |completely |totally |all )?(dead|wilted|smashed|shattered|broken|cracked|crushed|melted|thawed|leaking|rotten|mouldy|moldy|spoiled|spoilt|bent|dented|scratched|squashed|torn|ripped|warped|soaked) when (it|they|the parcel|the package|the box|the delivery|my order|i) (came|arrived|got here|was delivered|were delivered|turned up|opened|unboxed|unpacked)",
        "(opened|unboxed|unpacked|unwrapped) (it|the box|the package|the parcel|my order|my package|them)? ?(to find|and found|and it was|and they were|and there was) .{0,4} (cracked|broken|smashed|shattered|crushed|dented|scratched|torn|leaking|leaked|in pieces|bent|split|melted|damaged|a crack|a dent|a tear|a hole)",
    ]),
    ("missing_parts", 3.5, "fewer than ordered", [
        f"(pack|box|set|bag|tin|case|bundle|multi-pack|multipack|crate) of {_NUMW} .{{0,3}} (only|just) (had|has|contained|contains|came with|included|includes|arrived with|got|received) {_NUMW}",
        f"(ordered|bought|paid for|purchased|charged for) .{{0,5}} (only|just) (got|received|came|arrived|showed up|turned up|delivered|sent) {_NUMW}",
        f"(ordered|bought|paid for|purchased) (the |a )?(pack|set|box|bundle|case|bag) of {_NUMW} (and|but|,) (only )?(received|got|they sent|came) (only )?{_NUMW}",
        "half (the|my|of the|of my|our) (order|box|items|delivery|shopping|stuff|pieces|groceries|parcel|kit) (was |were |is |are )?(missing|not there|didn't come|never came|absent|gone|left out)",
    ]),
    ("missing_parts", 3.0, "part not in the box", [
        "(is|was|are|were|came|arrived|box|kit|set|package|parcel|order|bag) missing (the|its|a|an|both|all|all the|two|three|one|some|any) [\\w-]+",
        "(no|without|missing) [\\w-]+ [\\w-]+ (included|in the box|inside|in the package|in the bag|in the parcel|came with it)",
        f"(kit|box|set|package|parcel|order|pack|bag|bundle) (has|had|contained|contains|came with|comes with) no {_PART}",
        "(there was|there were|came with|contained|had|has) no [\\w-]+ [[\\w-]+] (and|or|,) no [\\w-]+",
        "(box|packaging|manual|guide|page|listing|quick start|instructions|invoice|picture) (lists|listed|shows|showed|says|said) .{0,5} (included|in the box|as included|but|,) .{0,3} (not|isn't|wasn't|no|missing|none)",
        "(one|two|three|four|some|several|a few|both) [\\w-]+ (missing|were missing|was missing|are missing|not included|absent)",
    ]),
    ("wrong_item", 3.5, "got other than ordered", [
        "(instead of|rather than) (the|my|a|an|what) .{0,6} (i|we) (ordered|orderd|bought|paid for|asked for|chose|picked|selected|wanted)",
        "(got|received|recieved|sent me|they sent|came|arrived) (a|an|the|some) .{0,5} (although|though|even though|whereas|when|but|,|;) (i|we) (clearly |specifically |definitely |had )?(ordered|orderd|paid for|asked for|chose|picked|selected|requested)",
        "(ordered|orderd|bought|paid for|asked for|chose|picked|selected|wanted) .{0,5} (,|;|-) (they |you |i |we )?(got|received|recieved|sent|shipped|delivered|send)( me| us)? (a|an|the|some|black|white|grey|gray|blue|red|green|pink|beige|navy|brown|yellow|purple|orange|small|medium|large|xs|s|m|l|xl|xxl|single|double|king|queen|size|men's|women's|kids)",
        "(came with|with|got|received|sent|shipped|delivered|included|packed) (the|a|an) (wrong|incorrect) [\\w-]+",
        "(wrong|different|another) (model number|sku|variant|colourway|colorway) (on|inside|in the box|sticker|label)",
    ]),
    ("fit_size", 3.0, "size is off", [
        "(runs|run|running|ran|fits|fit|come|comes|came|sized|cut) (so|super|crazy|ridiculously|absurdly|insanely|stupidly|seriously|massively) (small|big|large|tight|narrow|short|long|wide|loose)",
        "(fits|fit|fitted) like (a|an|the) (xs|xxs|s|m|l|xl|xxl|small|medium|large|child's|childs|kids|toddler|tent|sack|crop top)",
        "the size of a (canoe|boat|tent|house|car|bus|tank|bedsheet|surfboard|shoebox|postage stamp|stamp|handkerchief|napkin|teacup)",
        "(doll|child|toddler|baby|kid|hamster|barbie|giant) (sized|size)", "(for|fits|fit) a (chihuahua|hamster|doll|barbie|toddler|giant|small child|small dog)",
        "(size|sizes|sizing) (up|down) (twice|two sizes|2 sizes|three sizes)", "had to (size|go) (up|down)",
        "(xs|xxs|s|m|l|xl|xxl|\\d+) (is|was|fits|fit) (more )?like (a|an)? ?(xs|xxs|s|m|l|xl|xxl|\\d+|small|medium|large)",
        "(waist|legs|sleeves|straps|cups|band|shoulders|length|arms|collar|neck|toe box|hood) (is|are|was|were) (about |around |like |at least )?(\\d+ ?(cm|inches|inch|in)|a mile|miles|way|far|much|ridiculously|hilariously) (too )?(long|short|big|small|tight|loose|wide|narrow)",
    ]),
    ("not_as_described", 3.0, "other than advertised", [
        "not the [\\w-]+ [[\\w-]+] (in|from|on|shown in|pictured in) the (photos|photo|pictures|picture|listing|ad|advert|video)",
        "(a different|not the) product (from|to|than) what (was|is) (advertised|described|listed|shown|pictured)",
    ]),
    ("price_value", 2.0, "price", [
        "(prices|price|price tag|cost) (went up|have gone up|has gone up|gone up|doubled|tripled|jumped|hiked|increased) (\\d+|again|overnight|by)",
    ]),
    ("service", 2.5, "support failed", [
        "(on hold|waiting|waited) .{0,4} then (hung up|the call drops|the call dropped|disconnected|cut off|the line went dead)",
        "(hung up on me|call drops|call dropped|disconnected me|cut me off) (every time|again|after|twice)",
        "(refund|money|reimbursement) (was )?promised .{0,4} (ago|still|nothing|weeks|days|months)",
    ]),
]

# Cues whose whole span is checked for a negator ("the hinge has never broken").
SPAN_NEGATED: frozenset[str] = frozenset({"part failed", "part misbehaves"})
# Symptoms that nearby praise explains away ("hums quietly").
SOFT_CUES: frozenset[str] = frozenset({"part misbehaves"})

# ----------------------------------------------------------------------------- resolution layer
# A fault that was put right before the review was written ("the first one died, they sent a new
# one, the replacement is perfect") needs no remedy. ``fixed`` marks the fix itself or the good
# state after it; ``relapse`` marks a fix that did not hold ("the replacement did the same").
_FIX_NOUN = ("(replacement|replacements|new one|new ones|new unit|new pair|new set|second one|second unit|second pair"
             "|replacement unit|replacement pair|new panel|new battery|replacement battery|replacement part|new part|spare"
             "|another one|new [\\w-]+|replacement [\\w-]+|refund|full refund|partial refund|second parcel)")
_FIXER = ("(seller|sellers|shop|store|retailer|company|manufacturer|maker|brand|they|support|customer service"
          "|customer support|customer care|the team|amazon|he|she|warranty|engineer|technician)")
PHRASES += [
    ("fixed", 3.0, "fault put right", [
        f"{_FIXER} .{{0,2}} (sent|posted|shipped|dispatched|mailed|couriered|sending|posted out|sent out) (me |us |out |over )?(a |an |another |the |my )?(brand new |new |second |free |fresh |working |spare |replacement )?{_FIX_NOUN}",
        f"{_FIXER} .{{0,2}} (sent|posted|shipped|mailed|emailed|couriered) (me |us |out |over )?(a |an |the |my )?(missing|spare|replacement) [\\w-]+",
        f"{_FIXER} .{{0,2}} (sent|posted|shipped|mailed|couriered) (me |us |out |over )?the (right|correct|proper|black|white|grey|gray|silver|blue|red|green|pink|small|medium|large|bigger|smaller|other) (one|ones|size|colour|color|item|model|version|pair|set)",
        f"{_FIXER} .{{0,2}} (replaced|swapped|exchanged|refunded|reshipped|re-sent|resent|fixed|sorted|resolved|rectified|repaired|credited|fitted) (it|them|the|my|me|everything|that|this|a|an|out|in|with|immediately|quickly|straight|right|without|within|free|for|promptly)",
        f"{_FIXER} .{{0,2}} (issued|gave|offered and sent|processed) (me )?(a |my |the |full |a full |a partial )?(refund|replacement|new one|credit)",
        "(swapped|exchanged|reshipped) (it|them|the [\\w-]+|my [\\w-]+|that|the lot|everything)",
        "(got|received|was sent|were sent|was given|had) (a |my |the |another |a brand new |a new |a full |a partial |full |partial )?(replacement|replacements|new one|refund|full refund|partial refund|money back|new unit|new pair)",
        "(the |a |my |this |our )?(replacement|replacements|new one|new ones|new unit|new pair|new set|second one|second unit|second pair|replacement unit|replacement pair|new panel|new battery|replacement battery|replacement part|exchange|refund|full refund|partial refund|money|second parcel) (arrived|came|turned up|showed up|was sent|has been|is|works|worked|runs|has worked|is working|has run|went through|came through|landed|fixed|sorted|solved)",
        "(works|working|runs|running|fine|perfect|perfectly|flawless|flawlessly|great|solid|charges|charging|pairs|connects) (now|again|ever since|since then|since the|from then on)",
        "(has|have|it's|its) worked (every day|perfectly|fine|flawlessly|without a hitch|faultlessly)? ?(ever since|since then|since)", "(fresh|working) (pair|set|one|unit) (arrived|came|turned up|showed up)",
        "(been|has been|have been|it's been|its been) (rock solid|solid|flawless|perfect|fine|faultless|great|brilliant|spot on|reliable|problem free|problem-free|trouble free|trouble-free|going strong|running fine) (ever since|since then|since|from then on|after that)",
        "since then (it|they|it's|its|everything) (has|have|is|works|runs|has been|have been|has worked)",
        "(update|firmware update|firmware|driver update|driver|software update|reset|factory reset|reboot|restart|re-pairing|setting|zone|new cable) (fixed|fixes|sorted|solved|cured|cleared up|resolved) (it|that|this|the problem|the issue|everything|things)",
        "(problem|issue|fault|glitch|bug|error) (disappeared|went away|is gone|has gone|vanished|never came back|hasn't come back|has not come back|never returned|hasn't returned)",
        "(haven't|have not|never) (seen|had) (the|that|this|a) (problem|issue|fault|glitch) (since|again)",
        "(my|own) (fault|mistake) (entirely|completely|really)?", "by mistake", "(mistakenly|accidentally) (ordered|bought|picked|chose|selected|clicked)", "(made|makes) all the difference", "did the trick",
        "(hasn't|has not|hasnt|never) (happened|come back|returned|recurred) (again|since)", "(no|zero|not had any|haven't had any|not a single) (issues|problems|dropouts|drops|faults|glitches|crashes) (since|ever since|after that)", "(user|operator) error", "(turned|turns) out (to be )?(my fault|user error|my mistake|the cable|a setting|i|my router|the router|it was|it was just)",
        "after (fixing|changing|updating|resetting) (the|my) [\\w-]+ [setting|settings] .{0,2} (it's|its|it has|it|everything) (been|works|is|runs)",
    ]),
    ("relapse", 3.0, "fix did not hold", [
        "(did|does|doing|had|has|have|having|with|developed) the (same|exact same|very same|identical) (thing|problem|issue|fault|defect)",
        "(same|exact same|identical) (problem|issue|fault|defect|thing) (again|as the first|as before|as the old one)",
        "(also|then also|both) (broke|broken|died|dead|failed|faulty|cracked|damaged|stopped|leaks|leaking|wrong|missing|defective|smashed)",
        "(broke|broken|died|failed|faulty|cracked|dead|damaged|smashed|defective) (too|as well|also)",
        "(made|makes) no difference", "(replaced|swapped|exchanged) (it|them) (twice|three times|again|already)",
        "(want|need|demand|demanding|asking for|i'd like) (my money back|a refund|a full refund|my money)", "(didn't|did not|doesn't|does not|hasn't|has not) (fix|solve|help|cure|sort|change) (it|the problem|the issue|anything|that|a thing)",
        "(still|again) (broken|faulty|dead|not working|doesn't work|does not work|won't|wont|the same|leaking|leaks|crackles|drifts|disconnects|jams|cuts out)",
        "(second|third|2nd|3rd|another) (one|unit|replacement|pair|controller|charger) .{0,3} (died|failed|broke|broken|faulty|dead|cracked|drifts|drift|stopped)",
    ]),
    # The parcel did arrive: lateness or a slow refund around it is a service complaint.
    ("arrived", 2.0, "it did arrive", [
        "(it|they|parcel|package|order|item|items|everything|delivery|box) (finally |eventually |did |only |actually )?(arrived|came|turned up|showed up|got here)",
        "(got|received) (it|them|the parcel|the package|my order) (on day|\\d+ days later|days later|a week later|weeks later|late|eventually|finally|in the end|after|the next|on the|a day)",
        "(arrived|came|turned up|showed up) (on day|\\d+ days late|a day late|days late|a week late|late|eventually|finally|in the end)",
    ]),
    # Cosmetic wear of a finish: poor quality, not a fault a replacement would fix.
    ("poor_quality", 3.0, "finish wears off", [
        "(paint|finish|coating|plating|print|decal|logo|varnish|lacquer|gold|colour|color|veneer|chrome|silver|braiding|braid|sleeving) .{0,6} (fraying|frayed|flaking|flaked|flakes|peeling|peeled|peels|chipping|chipped|chips|rubbing off|rubbed off|rubs off|wearing off|wore off|wears off|faded|fading|fades|bubbled|bubbling|tarnished|tarnishing)",
        "(bubbled|bubbles|bubbling) up", "(pills|pilling|bobbles|bobbling) (after|within)",
    ]),
    ("sarcasm", 2.0, "sarcasm", [
        "cool cool cool", "love that for me", "love this for me", "thanks i hate it", "very on brand", "so on brand",
        "(great|amazing|brilliant|excellent|stellar|fantastic|top notch|top-notch) (packing|packaging|quality control|qc|job|work) (guys|team|folks|there|again|as always)",
        "(amazing|incredible|brilliant|great|stellar|fantastic|excellent) quality control",
    ]),
    ("missing_parts", 3.5, "fewer than ordered", [
        f"(ordered|bought|paid for|purchased|box of|pack of|set of) {_NUMW} [\\w-]+ [,|.|and|but|-] (got|received|came|arrived with|only) {_NUMW}",
        f"(box|pack|set|bag|tin|case) of {_NUMW} [\\w-]+ [,|.|and|but|-] {_NUMW} (inside|in it|in the box|in there|arrived|came)",
    ]),
]
PHRASES += [
    ("poor_quality", 2.0, "poor quality", ["(the )?(flimsiest|cheapest feeling|worst made|most fragile)"]),
    ("damaged", 3.0, "arrived in pieces", [
        "(arrive|arrived|arrives|came|come|showed up|turned up) in (two|2|three|3|several|many|\\d+|a hundred|a million|a thousand) (pieces|bits|parts|shards)",
        "(arrive|came|come|showed up|turned up) in (pieces|bits|shards|smithereens)",
    ]),
    ("fit_size", 2.5, "does not fit", [
        "(doesn't|doesnt|does not|didn't|didnt|did not|don't|dont|do not|won't|wont|wouldn't|wouldn't) (even )?(fit|fits|go on|go over|cover) (my|our|a|the) [\\w-]+ (bed|mattress|feet|foot|head|wrist|frame|sofa|table|window|door|car|bike|phone|laptop|kid|son|daughter|dog|cat)?",
    ]),
    ("defective", 3.0, "fault symptom", [
        "(stick|sticks|joystick|joysticks|thumbstick|thumbsticks|analogue stick|analog stick) (drift|drifts|drifting|drifted)", "stick drift",
    ]),
    ("wrong_item", 3.0, "got other than ordered", [
        "(ordered|asked for|paid for|picked|chose) [\\w-]+ [\\w-]+ [,|.|-] (got|received|they sent|you sent|was sent) [\\w-]+",
    ]),
    ("missing_parts", 3.0, "part not in the box", [
        "(wasn't|was not|weren't|were not|isn't|is not|aren't|are not) (in it|in the box|in there|in the parcel|in the package|in the bag|included)",
        "(meant to|supposed to|should) (come|be) (in the box|included|with it|in the package) .{0,4} (wasn't|was not|isn't|is not|weren't|not|missing) (there|included|in it|in the box)?",
    ]),
    ("not_delivered", 3.0, "never arrived", ["(no|still no|zero) (delivery|parcel|package)[,.!]"]),
]

# ----------------------------------------------------------------------------- the closing verdict
# How a long review ends is its verdict. ``verdict`` marks a happy closing line ("does exactly what
# I need", "good upgrade", "no regrets"); ``ask`` marks a buyer asking for a remedy ("please
# replace it", "I'd like a working pair"), which keeps a complaint a complaint however it ends.
PHRASES += [
    ("verdict", 2.0, "happy verdict", [
        "does (exactly |just |everything |all )?(what|everything) (i|we|it) (need|needed|want|wanted|asked|says|said|promised|should)",
        "does the (job|trick)", "(good|great|solid|worthwhile|nice|excellent|big|huge|massive|welcome|worthy) upgrade",
        "(no|zero|not a single|not one) regrets?", "(glad|happy|pleased) (i|we) (bought|got|chose|went with|took|picked|ordered|tried)",
        "(would|will|i'd|id|i will|we'd|we would) (happily |gladly |definitely |certainly )?(buy|get|order|choose|pick) (it |this |them |one |these )?again",
        "(i'd|i would|would|i) (give|rate) (it|them|this) (a )?(4|four|5|five|8|eight|9|nine|10|ten)", "(4|four|5|five) (stars|out of (5|five)) from me",
        "top marks", "(good|great|smart|solid|sound|wise|excellent) (buy|choice|purchase|value|investment|pick)", "recommended", "(a|real|definite) keeper",
        "(i'd|i would|would|i|we|can|i can|happily|gladly) recommend", "(can|could) live with (that|it|this|them)", "(i'm|im|i am|we're|we are) keeping (it|them|this)",
        "(love|loving|enjoying|enjoy) (it|them|this|these)", "(happy|pleased|satisfied|delighted|thrilled|impressed) with (it|them|this|the|my|our)",
        "(very|really|so|more than|extremely|super|overall|quite|well) (glad|happy|pleased|satisfied|impressed|chuffed)",
        "(glad|happy|pleased|satisfied|impressed|chuffed|delighted) (.|!)", "(great|good|excellent|brilliant|solid|lovely|nice|fantastic|superb|decent) (little )?(product|gadget|speaker|camera|kit|device|machine|monitor|keyboard|tablet|laptop|phone|buy|value|thing|unit|one)",
        "(perfect|excellent|brilliant|superb|spot on|faultless|flawless|fantastic|amazing|outstanding|great|lovely|gorgeous|wonderful) (.|!)",
        "(well|definitely|totally|absolutely) worth (it|the money|the price|buying)", "(money|price) well spent", "(peace of mind|made (my|our) life easier)",
    ]),
    ("ask", 2.0, "asks for a remedy", [
        "(please|pls|kindly) (replace|refund|exchange|repair|send|arrange|swap|sort|fix|advise|help)",
        "(i'd|id|we'd|would) like (a|an|the|my|it|them|this|one|either|our) .{0,4} (replaced|replacement|refund|refunded|repaired|repair|exchange|exchanged|working|new|right|correct|missing|sent|fixed|swapped|back)",
        "(need|want|expect|expecting) (a|an|the|my|it|them|this|either|our|one) .{0,4} (replaced|replacement|refund|refunded|repaired|repair|exchange|exchanged|working|new|right|correct|missing|sent|fixed|swapped|back|delivered)",
        "(wouldn't|wouldnt|would not|won't|wont|will not|not|never) (buy|pick|choose|get|order|purchase) (it|this|them|one|these|that)? ?again",
        "(needs|need) (to be )?(replacing|replaced|repairing|repaired|fixing|fixed|exchanging|sorting|sorted|sorting out|sorted out|looking at|looked at)",
        "(need|want|expect) (these|those|it|them|this|mine) (fixed|replaced|repaired|exchanged|refunded|sorted|swapped|sent back)", "(under|on) (the )?warranty",
        "(sent|returned|taken) (it|them|this|these) back", "(sending|returning|taking) (it|them|this|these) back", "(ship|send|post|return|take) (it|them|this|these) back",
        "returned (it|them|this|these)", "(refund|replacement|exchange|repair) (please|asap|urgently)",
    ]),
]

# Sarcastic thanks for a fault ("thanks for sending me someone else's shoes") and another person's
# item, whatever it is.
PHRASES += [
    ("sarcasm", 2.0, "sarcasm", [
        "(thanks|thank you|cheers|ty) (so much |a lot |again )?(for|4) (sending|shipping|delivering|giving|posting|selling) (me |us )?(the wrong|someone|somebody|a stranger's|another|a broken|a cracked|a damaged|a used|an empty|half|a dead|a faulty|a smashed|a dented|a ripped|a torn|an open|a tiny|nothing)",
    ]),
    ("damaged", 3.0, "sent broken", [
        "(sending|sent|send|shipping|shipped|delivering|delivered|posting|posted) (me |us )?(a |an |the )?(broken|cracked|damaged|smashed|dented|shattered|crushed|snapped|leaking|soaked|scratched|chipped|stained|ripped|torn) [\\w-]+",
    ]),
    ("wrong_item", 3.5, "someone else's item", [
        "(sending|sent|send|giving|gave|shipping|shipped|delivering|delivered|got|received|receive|get|posted) (me |us )?(someone else's|somebody else's|someone elses|somebody elses|another person's|another customer's|a stranger's) [\\w-]+",
    ]),
]

# The contents came through a battered parcel unharmed ("everything inside was there and
# undamaged"): the damage or shortage reported before it needs no remedy.
PHRASES += [
    ("intact", 3.0, "contents unharmed", [
        "(everything|contents|inside|all of it) (was|were|is|are) (all )?(there|present|fine|intact|undamaged|unharmed|unscathed|perfect|okay|ok|in perfect condition|in one piece|safe|untouched) ?(and )?(undamaged|intact|fine|unharmed|perfect)?",
        "(nothing|none of it) (was |got |inside was )?(damaged|broken|missing|scratched|harmed)",
    ]),
    ("missing_parts", 3.0, "part not in the box", [
        "(was|were|is|are) (all )?(there|included|in the box|present) (except|apart from|other than|but|bar|minus) (for )?(the|a|an|one|two|its|my) [\\w-]+",
    ]),
    ("not_as_described", 3.0, "other than the listing", [
        "(not|isn't|isnt|is not|wasn't|wasnt|was not|nothing like) what (the|their|your) (page|listing|description|website|site|product page|advert|ad|box|picture|pictures|photos|seller) (says|said|claims|claimed|shows|showed|promised|promises|stated|states|described)",
    ]),
]

# The buyer waves a flaw away ("the strap isn't important to me") or praises the product itself
# apart from it ("the camera itself is fantastic").
PHRASES += [
    ("hedge", 1.0, "flaw waved away", [
        "(isn't|isnt|is not|wasn't|wasnt|was not|not) (important|a problem|an issue|a big deal|a dealbreaker|a deal breaker|a deal-breaker|an issue for me|a problem for me) (to me|for me|for us|to us|really)?",
        "(don't|dont|do not|didn't|didnt|did not) (really )?(care|mind) (about|that|much)", "(not|never) (bothered|fussed) (about|by)",
    ]),
    ("verdict", 2.0, "happy verdict", [
        "itself (is|was|are|were) (fantastic|excellent|superb|brilliant|great|lovely|perfect|gorgeous|amazing|wonderful|beautiful|solid|spot on)",
    ]),
]

# A glitch that went away with a simple change ("the drops stopped once I moved the router", "new
# batteries and it works") needs no remedy.
PHRASES += [
    ("fixed", 3.0, "fault put right", [
        "(they|the problem|the issue|the drops|the dropouts|the noise|the rattle|the crashes|the freezing|the flicker|the buzzing|the glitch|the glitches) (stopped|went away|disappeared|cleared up|settled down|vanished) (once|when|as soon as)",
        "(new|fresh|different|other|another|spare) (batteries|battery|cable|charger|fuse|plug|socket|outlet|lead|port|adapter) (and|,) (it|they|everything|all) (works|worked|work|is fine|are fine|came on|fired up|started|charges|charged|connects|connected)",
    ]),
]
