# A hash of 60,000 keys for `vmemu run`: perl's peak RSS is about 20 MB.
use strict;
use warnings;

my %values;
for my $i (0 .. 60000) {
    $values{"k$i"} = "v" x ($i % 50);
}
my $total = 0;
for my $key (keys %values) {
    $total += length($values{$key});
}
print "$total\n";
